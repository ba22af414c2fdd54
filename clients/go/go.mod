module kess.dev/client

go 1.19
