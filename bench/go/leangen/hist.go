package main

// The latency histogram of bench/lib/stats.ts, bucket for bucket: values are integer µs; below
// 2^subBits one bucket each, then every power-of-two range split into 2^(subBits-1) equal buckets.
// The Node side rebuilds a Histogram from the non-zero buckets (go-load.ts), so the two must agree;
// `buckets` in the output lets it check that they do.

import (
	"math"
	"math/bits"
)

const (
	subBits  = 9
	subCount = 1 << subBits // 512 exact buckets: 0..511 µs
	half     = subCount >> 1
	maxUs    = int64(1) << 36
	octaves  = 36 - subBits + 1
	nBuckets = subCount + octaves*half
)

type histogram struct {
	counts [nBuckets]uint32
	count  int64
	sumUs  int64
	minUs  int64
	maxUs  int64
}

func newHistogram() *histogram { return &histogram{minUs: math.MaxInt64} }

func bucketOf(us int64) int {
	if us < subCount {
		return int(us)
	}
	shift := bits.Len64(uint64(us/subCount)) - 1 // 0 for 512..1023
	sub := int(us>>(shift+1)) - half
	return subCount + shift*half + sub
}

// recordNs is stats.ts's recordMs(ns / 1e6): µs rounded half up, clamped to [0, 2^36).
func (h *histogram) recordNs(ns int64) {
	us := float64(ns) / 1000
	var v int64
	switch {
	case us <= 0:
		v = 0
	case us >= float64(maxUs):
		v = maxUs - 1
	default:
		v = int64(math.Floor(us + 0.5))
	}
	h.counts[bucketOf(v)]++
	h.count++
	h.sumUs += v
	if v < h.minUs {
		h.minUs = v
	}
	if v > h.maxUs {
		h.maxUs = v
	}
}

// histData: the non-zero buckets as [index, count] pairs; minUs null when empty (Infinity in TS).
type histData struct {
	Buckets int        `json:"buckets"`
	Counts  [][2]int64 `json:"counts"`
	Count   int64      `json:"count"`
	SumUs   int64      `json:"sumUs"`
	MinUs   *int64     `json:"minUs"`
	MaxUs   int64      `json:"maxUs"`
}

func (h *histogram) data() histData {
	d := histData{Buckets: nBuckets, Counts: [][2]int64{}, Count: h.count, SumUs: h.sumUs, MaxUs: h.maxUs}
	for i, c := range h.counts {
		if c != 0 {
			d.Counts = append(d.Counts, [2]int64{int64(i), int64(c)})
		}
	}
	if h.count > 0 {
		m := h.minUs
		d.MinUs = &m
	}
	return d
}
