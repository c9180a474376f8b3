// Command receiver is an example PCX webhook receiver: it verifies every delivery with the official
// Standard Webhooks library, processes each event once (deduplicating on webhook-id), unwraps the
// Standard Webhooks envelope of an endpoint with payload_format standard, and dispatches on the
// event type (PCX-Event-Type): transaction updates are printed as JSON lines on stdout, PCX's
// operational events (pcx.test, pcx.endpoint.disabled, pcx.delivery.exhausted) and unknown types
// are logged on stderr.
//
//	PCX_WEBHOOK_SECRET=whsec_… RECEIVER_TLS_CERT=cert.pem RECEIVER_TLS_KEY=key.pem \
//	  go run ./examples/receiver -addr 127.0.0.1:8443 -payload-format auto
//
// PCX delivers only to https:// URLs; without RECEIVER_TLS_CERT/KEY the receiver serves plain
// HTTP for running behind a TLS-terminating proxy. Copy it as a starting point: replace process
// with your own work, and keep the event IDs in your database instead of in memory.
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
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8443", "listen address")
	path := flag.String("path", "/webhooks/pcx", "URL path to serve")
	window := flag.Duration("dedup-window", 7*24*time.Hour, "how long an event ID is remembered (longer than PCX's ~3-day retry schedule)")
	formatFlag := flag.String("payload-format", string(FormatAuto), "the endpoint's payload_format: raw, standard, or auto (either)")
	flag.Parse()
	format, err := ParsePayloadFormat(*formatFlag)
	if err != nil {
		return err
	}
	secret := os.Getenv("PCX_WEBHOOK_SECRET")
	if secret == "" {
		return errors.New("PCX_WEBHOOK_SECRET is required (the whsec_… secret shown when the endpoint was registered)")
	}
	certFile, keyFile := os.Getenv("RECEIVER_TLS_CERT"), os.Getenv("RECEIVER_TLS_KEY")
	if (certFile == "") != (keyFile == "") {
		return errors.New("set both RECEIVER_TLS_CERT and RECEIVER_TLS_KEY, or neither")
	}

	// Your work goes in Handler.Handle.
	rc, err := NewReceiver(secret, format, *window, NewHandler(os.Stdout, os.Stderr).Handle)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(*path, rc)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if certFile != "" {
		scheme = "https"
	}
	fmt.Fprintf(os.Stderr, "receiver: listening on %s://%s%s\n", scheme, ln.Addr(), *path)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() {
		if certFile != "" {
			serveErr <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	// Finish the deliveries in progress: an interrupted one would only be retried, but a clean
	// stop answers them.
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
