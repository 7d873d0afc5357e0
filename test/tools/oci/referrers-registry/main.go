// Command referrers-registry serves go-containerregistry's registry (pkg/registry, at the version
// this module pins) with its OCI 1.1 referrers API turned on, which `crane registry serve` does
// not do. The test environment uses it to exercise lading's referrers API path; the other local
// registries (distribution 2.8 and v3) have no referrers API.
//
// Usage: referrers-registry [-addr 127.0.0.1:0] [-blobs DIR]
//
// It listens on a loopback address only, prints "serving on http://HOST:PORT" on stdout once it
// accepts connections, keeps manifests in memory and blobs in memory or under DIR, and logs each
// request on stderr. It has no authentication and stops on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free port)")
	blobs := flag.String("blobs", "", "directory for blobs (default: in memory)")
	flag.Parse()
	if flag.NArg() != 0 {
		fail("unexpected arguments %q", flag.Args())
	}

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		fail("-addr %q: %v", *addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fail("-addr %q: only loopback addresses are served (this registry has no authentication)", *addr)
	}

	logger := log.New(os.Stderr, "", log.LstdFlags)
	opts := []registry.Option{registry.WithReferrersSupport(true), registry.Logger(logger)}
	if *blobs != "" {
		if err := os.MkdirAll(*blobs, 0o700); err != nil {
			fail("-blobs %q: %v", *blobs, err)
		}
		opts = append(opts, registry.WithBlobHandler(registry.NewDiskBlobHandler(*blobs)))
	}

	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fail("listening on %s: %v", *addr, err)
	}
	server := &http.Server{Handler: registry.New(opts...), ReadHeaderTimeout: 30 * time.Second}
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
	fmt.Fprintf(os.Stderr, "referrers-registry: "+format+"\n", args...)
	os.Exit(2)
}
