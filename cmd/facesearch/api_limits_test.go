package main

import (
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/facesearch/facesearch-operator/internal/rekognition"
	"github.com/facesearch/facesearch-operator/internal/search"
)

// TestAPIEndpointBoundsConnections: connections that never authenticate (never even send
// headers) hold at most --api-max-connections; past it the endpoint takes no more, and a
// freed connection lets the next one in.
func TestAPIEndpointBoundsConnections(t *testing.T) {
	var af apiFlags
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	af.bind(fs, "")
	if err := fs.Parse([]string{"--api-bind-address=127.0.0.1:0", "--api-max-connections=2"}); err != nil {
		t.Fatal(err)
	}
	api, err := newAPIEndpoint(&af, search.NewService(nil), nil, nil, rekognition.StaticCredentials{}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if api.server.MaxHeaderBytes == 0 || api.server.MaxHeaderBytes > 1<<20 {
		t.Fatalf("MaxHeaderBytes %d: unbounded headers", api.server.MaxHeaderBytes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- api.run(ctx, &af, func(addr string) { started <- addr }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("the endpoint ended with %v", err)
		}
	})
	addr := <-started
	healthz := func() error {
		c := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := healthz(); err != nil {
		t.Fatalf("the endpoint does not answer: %v", err)
	}
	var idle []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept them
	if err := healthz(); err == nil {
		t.Fatal("a third connection was served while two idle ones held the limit")
	}
	idle[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for healthz() != nil {
		if time.Now().After(deadline) {
			t.Fatal("a freed connection did not let the next one in")
		}
	}
	idle[1].Close()
}
