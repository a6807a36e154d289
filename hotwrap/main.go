// Command hotwrap makes any stdin/stdout program a hot function.
//
// hotwrap is a container's ENTRYPOINT and the container's CMD is the command. It
// implements Fn's hot contract (an HTTP/1.1 server on the unix socket named by
// FN_LISTENER) and, per call, runs the command with the body on stdin and answers
// with its stdout: exit 0 gives 200, non-zero gives 502 (with the exit status and
// the end of stderr), past the deadline the process group is killed and the
// answer is 504. See docs/hotwrap.md.
//
// It is one static executable (standard library only, CGO_ENABLED=0), so it
// runs in any Linux image: Alpine, -slim, distroless, scratch.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

const usage = "usage: hotwrap [--mode exec|lines] [--buffer BYTES] [--content-type TYPE] [--] COMMAND [ARG...]"

const help = `hotwrap [OPTIONS] [--] COMMAND [ARG...]: serve COMMAND on Fn's hot contract.

Options (each also settable in the environment, e.g. through the fn's config):
  --mode exec|lines     exec (default): run COMMAND per call;
                        lines: keep one COMMAND running, one line in, one line out
                        (HOTWRAP_MODE)
  --buffer BYTES        exec mode: output held back to decide 200 vs 502 before
                        streaming (default 1048576; HOTWRAP_BUFFER_BYTES)
  --content-type TYPE   Content-Type of successful answers (default
                        application/octet-stream; HOTWRAP_CONTENT_TYPE)

With FN_FORMAT=default and no FN_LISTENER (the cold contract), hotwrap simply
execs COMMAND.`

// fdkVersion is the Fn-Fdk-Version header value of every answer.
func fdkVersion() string { return "hotfn-hotwrap/" + version }

// options are hotwrap's settings: the command line wins over the environment.
type options struct {
	mode        string
	buffer      int
	contentType string
	command     []string
}

// usageError is a command line that cannot be used; the text says why.
type usageError string

func (e usageError) Error() string { return string(e) }

func parseOptions(argv []string, getenv func(string) string) (*options, error) {
	o := &options{mode: "exec", contentType: octetStream}
	buffer := strconv.Itoa(defaultBuffer)
	if v := getenv("HOTWRAP_MODE"); v != "" {
		o.mode = v
	}
	if v := getenv("HOTWRAP_BUFFER_BYTES"); v != "" {
		buffer = v
	}
	if v := getenv("HOTWRAP_CONTENT_TYPE"); v != "" {
		o.contentType = v
	}
	args := append([]string(nil), argv...)
	// Options come before the command only: the command's own arguments (even
	// ones starting with "--") are never touched.
	for len(args) > 0 && strings.HasPrefix(args[0], "--") {
		option := args[0]
		args = args[1:]
		if option == "--" {
			break
		}
		name, value, eq := strings.Cut(option, "=")
		if name != "--mode" && name != "--buffer" && name != "--content-type" {
			return nil, usageError("unknown option " + option)
		}
		if !eq {
			if len(args) == 0 {
				return nil, usageError(name + " needs a value")
			}
			value = args[0]
			args = args[1:]
		}
		switch name {
		case "--mode":
			o.mode = value
		case "--buffer":
			buffer = value
		default:
			o.contentType = value
		}
	}
	if o.mode != "exec" && o.mode != "lines" {
		return nil, usageError(fmt.Sprintf("unknown mode %q: use exec or lines", o.mode))
	}
	n, err := strconv.Atoi(buffer)
	if err != nil || n < 0 || strings.TrimLeft(buffer, "0123456789") != "" {
		return nil, usageError(fmt.Sprintf("the buffer size must be a number of bytes, not %q", buffer))
	}
	o.buffer = n
	if len(args) == 0 {
		return nil, usageError("no command given (set the image's CMD)")
	}
	o.command = commandArgv(args)
	return o, nil
}

// commandArgv is the argv to run. A lone argument with spaces that names no file
// is a shell command line (CMD ["node ./func.js"]); otherwise argv is used as
// given, never re-split (a shell-form CMD already arrives as /bin/sh -c "...").
func commandArgv(args []string) []string {
	if len(args) == 1 && strings.ContainsAny(args[0], " \t\n\r\v\f") {
		if _, err := os.Stat(args[0]); err != nil {
			return []string{"/bin/sh", "-c", args[0]}
		}
	}
	return args
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "hotwrap: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Println(help)
		return
	}
	if len(args) > 0 && args[0] == "--version" {
		fmt.Println(fdkVersion())
		return
	}
	o, err := parseOptions(args, os.Getenv)
	if err != nil {
		fail("%s\n%s", err, usage)
	}
	program, err := exec.LookPath(o.command[0])
	if errors.Is(err, exec.ErrDot) {
		err = nil // found through a relative PATH entry: run it, as a shell would
	}
	if err != nil {
		fail("command not found or not executable: %q", o.command[0])
	}
	if os.Getenv("FN_FORMAT") == "default" && os.Getenv("FN_LISTENER") == "" {
		// Run cold (one container per call, body on stdin): nothing to wrap, so
		// the same image serves a fn whether its format is http-stream or default.
		err := syscall.Exec(program, o.command, os.Environ())
		fail("cannot run %s: %s", o.command[0], err)
	}
	if f := os.Getenv("FN_FORMAT"); f != "" && f != "http-stream" {
		fail("FN_FORMAT=%q is not supported; only http-stream is", f)
	}
	path, err := listenerPath(os.Getenv("FN_LISTENER"))
	if err != nil {
		fail("%s", err)
	}
	startReaper()
	var h handler
	if o.mode == "lines" {
		lh := newLinesHandler(program, o.command, o.contentType)
		if err := lh.start(); err != nil {
			fail("cannot start: %s", err)
		}
		h = lh
	} else {
		h = newExecHandler(program, o.command, o.buffer, o.contentType)
	}
	if err := serve(path, h); err != nil {
		h.stop()
		fail("%s", err)
	}
}
