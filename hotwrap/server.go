package main

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// maxSocketPath: sockaddr_un.sun_path is 108 bytes including the terminating NUL.
const maxSocketPath = 107

const callPath = "/call"

// handler serves POST /call; stop ends what it runs when hotwrap stops.
type handler interface {
	serveCall(w http.ResponseWriter, r *http.Request)
	stop()
}

// listenerPath is the socket path in an FN_LISTENER value (unix:/tmp/iofs/lsnr.sock).
func listenerPath(value string) (string, error) {
	const example = "expected FN_LISTENER=unix:/tmp/iofs/lsnr.sock, set by the agent"
	if value == "" {
		return "", fmt.Errorf("FN_LISTENER is not set: %s", example)
	}
	path, ok := strings.CutPrefix(value, "unix:")
	if !ok {
		return "", fmt.Errorf("FN_LISTENER must start with 'unix:', got %q: %s", value, example)
	}
	if path == "" || strings.HasSuffix(path, "/") {
		return "", fmt.Errorf("FN_LISTENER names no socket file: %q: %s", value, example)
	}
	if len(path) > maxSocketPath {
		return "", fmt.Errorf("FN_LISTENER path is longer than %d bytes: %q", maxSocketPath, path)
	}
	return path, nil
}

// phonyPath is where the real socket is bound: "phony" + the listener's file name.
func phonyPath(path string) string {
	return filepath.Join(filepath.Dir(path), "phony"+filepath.Base(path))
}

// listen binds the phony socket, makes it world-writable (the agent connects as
// another user), then publishes the relative symlink lsnr.sock -> phonylsnr.sock,
// whose appearance tells the agent the container is ready (Fn's contract).
func listen(path string) (net.Listener, error) {
	phony := phonyPath(path)
	for _, stale := range []string{path, phony} {
		if err := os.Remove(stale); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cannot listen on %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", phony)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", path, err)
	}
	if err := os.Chmod(phony, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("cannot listen on %s: %w", path, err)
	}
	// Relative, so it resolves both in the container and on the host side of
	// the bind mount; created last, because its appearance means "ready".
	if err := os.Symlink(filepath.Base(phony), path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("cannot listen on %s: %w", path, err)
	}
	return ln, nil
}

// serve answers calls on path until SIGTERM or SIGINT, then cleans up.
func serve(path string, h handler) error {
	ln, err := listen(path)
	if err != nil {
		return err
	}
	frameName, frameHeader := os.Getenv("FN_LOGFRAME_NAME"), os.Getenv("FN_LOGFRAME_HDR")
	base := fdkVersion()
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Fn-Fdk-Version"] = []string{base}
		w.Header()["Date"] = nil // not part of the contract; saves formatting it per call
		if r.URL.Path != callPath {
			w.Header().Set("Content-Type", jsonType)
			w.WriteHeader(http.StatusNotFound)
			w.Write(errorBody("no such path " + r.URL.Path))
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			w.Header().Set("Content-Type", jsonType)
			w.WriteHeader(http.StatusMethodNotAllowed)
			w.Write(errorBody("only POST /call is served"))
			return
		}
		if frameName != "" && frameHeader != "" {
			// Fn's log framing: a marker line with the call id on stdout and
			// stderr, so the agent can split a hot container's log per call.
			if v := r.Header.Get(frameHeader); v != "" {
				line := "\n" + frameName + "=" + v + "\n"
				os.Stdout.WriteString(line)
				os.Stderr.WriteString(line)
			}
		}
		// The command may answer while its input still arrives (cat of a large
		// body): reading the body after the response started must stay allowed.
		_ = http.NewResponseController(w).EnableFullDuplex()
		h.serveCall(w, r)
	})
	server := &http.Server{
		Handler:        mux,
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       log.New(os.Stderr, "hotwrap: ", 0),
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- server.Serve(ln) }()
	select {
	case <-stop:
		err = nil
	case err = <-done:
	}
	ln.Close()
	h.stop()
	for _, name := range []string{path, phonyPath(path)} {
		os.Remove(name)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", path, err)
	}
	return nil
}
