package main

// The loop's syscalls, raw: no entersyscall/exitsyscall around them. Every socket is non-blocking
// and the one blocking call, epoll_pwait, waits at most 10 ms; with the runtime's wrappers, each
// return from epoll woke the runtime's monitor thread (sysmon) out of its deep sleep, which then
// polled every 20 µs: thousands of futex and nanosleep calls a second for nothing. Raw, the runtime
// sees one goroutine running; sysmon preempts it every 10 ms at most (an EINTR, handled).

import (
	"syscall"
	"unsafe"
)

func rawRead(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawEpollWait(epfd int, events []syscall.EpollEvent, msec int) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
