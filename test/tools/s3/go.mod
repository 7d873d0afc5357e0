// Pinned S3 server for the lading test environment (test/env): gofakes3 with its in-memory
// backend (s3server/main.go), the endpoint of Flux's Bucket in the Bucket interop test.
module lading.test/tools/s3

go 1.26.0

require github.com/johannesboyne/gofakes3 v1.2.0

require (
	github.com/ryszard/goskiplist v0.0.0-20150312221310-2dfbae5fcf46 // indirect
	go.shabbyrobe.org/gocovmerge v0.0.0-20230507111327-fa4f82cfbf4d // indirect
	golang.org/x/tools v0.8.0 // indirect
)

tool lading.test/tools/s3/s3server
