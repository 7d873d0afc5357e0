// Command s3server serves gofakes3 (an S3 API implementation, at the version this module pins)
// with its in-memory backend, so that the tests can point Flux's Bucket (provider generic) at a
// real S3 endpoint on loopback.
//
// Usage: s3server [-addr 127.0.0.1:0] -bucket NAME
//
// It listens on a loopback address only, creates the bucket, prints "serving on http://HOST:PORT"
// on stdout once it accepts connections, and stops on SIGTERM or SIGINT. It checks no
// credentials: any access key is accepted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free port)")
	bucket := flag.String("bucket", "", "bucket to create at start")
	flag.Parse()
	if flag.NArg() != 0 || *bucket == "" {
		fail("usage: s3server [-addr 127.0.0.1:0] -bucket NAME")
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		fail("-addr %q: %v", *addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fail("-addr %q: only loopback addresses are served (this server checks no credentials)", *addr)
	}

	backend := s3mem.New()
	if err := backend.CreateBucket(*bucket); err != nil {
		fail("creating bucket %q: %v", *bucket, err)
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fail("listening on %s: %v", *addr, err)
	}
	faker := gofakes3.New(backend)
	server := &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 30 * time.Second}
	fmt.Printf("serving on http://%s\n", listener.Addr().String())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fail("serving on %s: %v", listener.Addr(), err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "s3server: "+format+"\n", args...)
	os.Exit(2)
}
