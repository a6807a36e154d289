package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// execHandler runs the command once per call: body to stdin (streamed), stdout
// to the response body, stderr to the container's log.
//
// The status needs care: a command may fail after writing output, and answering
// 200 before it exits would report that failure as a success (Fn's hotwrap
// does). So stdout is held back up to buffer bytes (1 MiB by default): a command
// that exits within it gets an exact answer, 200 or 502. Past it, hotwrap
// commits to 200 and streams the rest chunked; if the command then fails, the
// response is aborted (connection closed, no final chunk), which the agent sees
// as an invalid response, never as a truncated success.
type execHandler struct {
	program     string
	argv        []string
	buffer      int
	contentType string
	env         []string
	scratch     string
	ids         atomic.Int64
	mu          sync.Mutex
	running     map[*child]bool
}

func newExecHandler(program string, argv []string, buffer int, contentType string) *execHandler {
	h := &execHandler{
		program: program, argv: argv, buffer: buffer, contentType: contentType,
		env: os.Environ(), running: map[*child]bool{},
	}
	// A private directory for the per-call response files.
	dir, err := os.MkdirTemp("", "hotwrap-")
	if err != nil {
		say("no writable temporary directory (%s): $%s is off", err, responseFileEnv)
	} else {
		h.scratch = dir
	}
	return h
}

func (h *execHandler) stop() {
	h.mu.Lock()
	for c := range h.running {
		c.killGroup()
	}
	h.mu.Unlock()
	if h.scratch != "" {
		os.RemoveAll(h.scratch)
	}
}

// respond sends a complete answer; closing ends the connection after it.
func respond(w http.ResponseWriter, status int, body []byte, closing bool) {
	hd := w.Header()
	if hd.Get("Content-Type") == "" {
		hd.Set("Content-Type", jsonType)
	}
	hd.Set("Content-Length", itoa(len(body)))
	if closing {
		hd.Set("Connection", "close")
	}
	w.WriteHeader(status)
	w.Write(body)
}

// abort drops the connection: the agent sees an incomplete response, not a success.
func abort() { panic(http.ErrAbortHandler) }

// hangUp answers and closes the connection at once, without waiting for the rest
// of a request body that may never come (a deadline passed while it arrived).
func hangUp(w http.ResponseWriter, status int, body []byte) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		respond(w, status, body, true)
		return
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 " + itoa(status) + " " + http.StatusText(status) + "\r\n")
	buf.WriteString("Content-Type: " + jsonType + "\r\nFn-Fdk-Version: " + fdkVersion() + "\r\n")
	buf.WriteString("Content-Length: " + itoa(len(body)) + "\r\nConnection: close\r\n\r\n")
	buf.Write(body)
	buf.Flush()
}

func (h *execHandler) serveCall(w http.ResponseWriter, r *http.Request) {
	deadline, hasDeadline := parseDeadline(joined(r.Header, "Fn-Deadline"))
	bodyPending := r.ContentLength != 0
	if hasDeadline && !time.Now().Before(deadline) {
		message := errorBody("function timed out (deadline passed before the call started)")
		if bodyPending {
			hangUp(w, http.StatusGatewayTimeout, message)
		} else {
			respond(w, http.StatusGatewayTimeout, message, false)
		}
		return
	}
	responseFile := ""
	if h.scratch != "" {
		responseFile = filepath.Join(h.scratch, itoa(int(h.ids.Add(1)))+".headers")
		defer os.Remove(responseFile)
	}
	env := callEnvironment(h.env, r.Header, responseFile)
	oomBefore := oomKills()
	c, err := spawn(h.program, h.argv, env)
	if err != nil {
		say("cannot run %s: %s", h.argv[0], err)
		io.Copy(io.Discard, r.Body)
		respond(w, http.StatusBadGateway, errorBody("cannot run command: "+err.Error()), false)
		return
	}
	h.mu.Lock()
	h.running[c] = true
	h.mu.Unlock()
	defer func() {
		c.killGroup()
		c.closePipes()
		h.mu.Lock()
		delete(h.running, c)
		h.mu.Unlock()
	}()
	call := &execCall{h: h, w: w, r: r, c: c, responseFile: responseFile, oomBefore: oomBefore}
	expired := make(chan struct{})
	if hasDeadline {
		timer := time.AfterFunc(time.Until(deadline), func() {
			close(expired)
			c.killGroup()
			// Unblock our reads even if a process that left the group holds
			// the pipes open.
			c.stdout.Close()
			c.stderr.Close()
		})
		defer timer.Stop()
	}
	call.run(expired)
}

// execCall is the data flow of one run: stdin feed, stderr copy, stdout collection.
type execCall struct {
	h            *execHandler
	w            http.ResponseWriter
	r            *http.Request
	c            *child
	responseFile string
	committed    bool
	flusher      *http.ResponseController
	oomBefore    int64 // the container's OOM-kill counter before the command started
}

func (k *execCall) run(expired <-chan struct{}) {
	timedOut := func() bool {
		select {
		case <-expired:
			return true
		default:
			return false
		}
	}
	fed := make(chan error, 1)
	go func() { fed <- k.feed() }()
	stderr := k.c.pumpStderr()
	written, writeErr := k.collect()
	code := k.c.wait()
	tail := <-stderr
	var feedErr error
	if !timedOut() {
		// The rest of the body, if the command did not read it all, so that
		// the connection stays in step for the next call. The deadline timer
		// still runs: a body that never ends is cut off by it.
		select {
		case feedErr = <-fed:
		case <-expired:
		}
	}
	callID := joined(k.r.Header, "Fn-Call-Id")
	switch {
	case timedOut():
		say("call %s passed its deadline: killed the command", callID)
		if k.committed {
			abort()
		}
		var done bool
		select {
		case feedErr = <-fed:
			done = true
		default:
		}
		message := errorBody("function timed out (deadline passed)")
		if done && feedErr == nil {
			respond(k.w, http.StatusGatewayTimeout, message, false)
		} else {
			hangUp(k.w, http.StatusGatewayTimeout, message)
		}
	case feedErr != nil:
		// A malformed or broken-off request body: say why, then close, since
		// the framing of anything after it on this connection is unknowable.
		if k.committed {
			abort()
		}
		respond(k.w, http.StatusBadRequest, errorBody("bad request body: "+feedErr.Error()), true)
	case writeErr != nil:
		abort() // the agent went away mid-answer
	case k.committed:
		if code != 0 {
			say("command %s after its output was streamed: aborting", describeExit(code))
			abort()
		}
	case code == 0:
		status, headers := readResponseFile(k.responseFile)
		setContractHeaders(k.w.Header(), status, headers, k.h.contentType)
		k.w.Header().Set("Content-Length", itoa(len(written)))
		k.w.WriteHeader(http.StatusOK)
		k.w.Write(written)
	default:
		say("command %s: 502", describeExit(code))
		k.w.Header().Set("Fn-Hotwrap-Exit-Code", itoa(code))
		if killedForMemory(code, k.oomBefore) {
			say("the OOM killer killed the command (the container's memory limit)")
			k.w.Header().Set("Fn-Hotwrap-Oom", "1")
		}
		respond(k.w, http.StatusBadGateway, failureBody(code, tail, 10), false)
	}
}

// feed copies the body to the command's stdin. A command may stop reading early
// (head -c 10): the body is still consumed. The error is the body's, not the pipe's.
func (k *execCall) feed() error {
	pooled := buffers.Get().(*[]byte)
	defer buffers.Put(pooled)
	buf := *pooled
	stdin := k.c.stdin
	for {
		n, err := k.r.Body.Read(buf)
		if n > 0 && stdin != nil {
			if _, werr := stdin.Write(buf[:n]); werr != nil {
				stdin.Close()
				stdin = nil
			}
		}
		if err == io.EOF {
			if stdin != nil {
				stdin.Close()
			}
			return nil
		}
		if err != nil {
			k.c.killGroup()
			return err
		}
	}
}

// collect reads stdout: held back up to the buffer size, then streamed.
func (k *execCall) collect() ([]byte, error) {
	var held []byte
	pooled := buffers.Get().(*[]byte)
	defer buffers.Put(pooled)
	buf := *pooled
	var writeErr error
	for {
		n, err := k.c.stdout.Read(buf)
		if n > 0 && writeErr == nil {
			if k.committed {
				writeErr = k.write(buf[:n])
			} else {
				held = append(held, buf[:n]...)
				if len(held) > k.h.buffer {
					status, headers := readResponseFile(k.responseFile)
					setContractHeaders(k.w.Header(), status, headers, k.h.contentType)
					k.w.WriteHeader(http.StatusOK)
					k.committed = true
					k.flusher = http.NewResponseController(k.w)
					writeErr = k.write(held)
					held = nil
				}
			}
			if writeErr != nil {
				k.c.killGroup()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				say("reading the command's output: %s", err)
			}
			return held, writeErr
		}
	}
}

func (k *execCall) write(data []byte) error {
	if _, err := k.w.Write(data); err != nil {
		return err
	}
	return k.flusher.Flush()
}
