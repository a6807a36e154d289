package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// lineMax bounds one line of the command's output.
const lineMax = 1 << 24

// linesHandler is --mode lines: one long-lived process answering one line per
// call. For line-oriented tools (read a line, print a line) starting a process
// per call is most of the cost. Here the command starts once; each call writes
// the body plus "\n" to its stdin and answers with the next line of its stdout
// (without the "\n"). Calls are served one at a time. If the command dies, the
// call gets 502 with its exit status and last stderr lines, and the next call
// starts it again; past a deadline its process group is killed (504).
type linesHandler struct {
	program     string
	argv        []string
	contentType string
	env         []string
	mu          sync.Mutex
	c           *child
	tail        <-chan []byte
	out         *bufio.Reader // the command's stdout
}

func newLinesHandler(program string, argv []string, contentType string) *linesHandler {
	return &linesHandler{program: program, argv: argv, contentType: contentType, env: os.Environ()}
}

// start runs the command now, so the first call does not pay for it.
func (h *linesHandler) start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ensure()
}

func (h *linesHandler) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.c != nil {
		h.c.killGroup()
	}
}

func (h *linesHandler) ensure() error {
	if h.c != nil {
		return nil
	}
	c, err := spawn(h.program, h.argv, h.env)
	if err != nil {
		return err
	}
	h.c, h.tail, h.out = c, c.pumpStderr(), bufio.NewReaderSize(c.stdout, 1<<16)
	return nil
}

// discard kills and reaps the command: its exit status and stderr tail.
func (h *linesHandler) discard() (int, []byte) {
	c := h.c
	h.c = nil
	c.killGroup()
	code := c.wait()
	c.stdout.Close()
	tail := <-h.tail
	c.closePipes()
	return code, tail
}

type lineReply struct {
	line []byte
	err  error
}

// readLine reads the command's next output line (without the "\n").
func readLine(out *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := out.ReadSlice('\n')
		if err == nil {
			if line == nil {
				return append([]byte(nil), part[:len(part)-1]...), nil
			}
			return append(line, part[:len(part)-1]...), nil
		}
		if err != bufio.ErrBufferFull {
			return nil, err
		}
		line = append(line, part...)
		if len(line) > lineMax {
			return nil, errTooLong
		}
	}
}

var errTooLong = errors.New("line too long")

func (h *linesHandler) serveCall(w http.ResponseWriter, r *http.Request) {
	deadline, hasDeadline := parseDeadline(joined(r.Header, "Fn-Deadline"))
	body, err := io.ReadAll(r.Body)
	if err != nil {
		respond(w, http.StatusBadRequest, errorBody("bad request body: "+err.Error()), true)
		return
	}
	line := bytes.TrimSuffix(body, []byte("\n"))
	if bytes.IndexByte(line, '\n') >= 0 {
		respond(w, http.StatusBadGateway, errorBody("in --mode lines a call's body must be a single line"), false)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.ensure(); err != nil {
		say("cannot run %s: %s", h.argv[0], err)
		respond(w, http.StatusBadGateway, errorBody("cannot run command: "+err.Error()), false)
		return
	}
	c := h.c
	// A command that died makes this write fail (EPIPE); the read below then
	// sees EOF and the call gets the exit status.
	c.stdin.Write(append(line, '\n'))
	replies := make(chan lineReply, 1)
	out := h.out
	go func() {
		answer, err := readLine(out)
		replies <- lineReply{answer, err}
	}()
	var expired <-chan time.Time
	if hasDeadline {
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case reply := <-replies:
		if reply.err == nil {
			setContractHeaders(w.Header(), 200, nil, h.contentType)
			w.Header().Set("Content-Length", itoa(len(reply.line)))
			w.WriteHeader(http.StatusOK)
			w.Write(reply.line)
			return
		}
		if reply.err == errTooLong {
			say("an output line is longer than %d bytes: restarting the command", lineMax)
		}
		code, tail := h.discard()
		say("command %s: 502; it starts again on the next call", describeExit(code))
		w.Header().Set("Fn-Hotwrap-Exit-Code", itoa(code))
		respond(w, http.StatusBadGateway, failureBody(code, tail, 10), false)
	case <-expired:
		h.discard()
		<-replies // the reader ends: the pipe is closed
		say("call %s passed its deadline: killed the command", joined(r.Header, "Fn-Call-Id"))
		respond(w, http.StatusGatewayTimeout, errorBody("function timed out"), false)
	}
}
