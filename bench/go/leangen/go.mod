module uws-chat-bench/leangen

go 1.22
