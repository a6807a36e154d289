package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	octetStream = "application/octet-stream"
	jsonType    = "application/json"
	// defaultBuffer is how much output is held back to decide 200 vs 502.
	defaultBuffer = 1 << 20
	// responseFileEnv names the file where a command may write "Status: 201"
	// and "Name: value" lines for the HTTP-trigger caller (docs/hotwrap.md).
	responseFileEnv = "FN_RESPONSE_HEADERS_FILE"
	responseFileMax = 1 << 16
	// Linux refuses to start a program when any one environment string
	// ("NAME=value" and its NUL) exceeds MAX_ARG_STRLEN, 128 KiB: one oversized
	// client header must not make every command run fail with E2BIG.
	maxEnvString = 1 << 17
	httpPrefix   = "Fn-Http-H-"
)

func itoa(n int) string { return strconv.Itoa(n) }

// say writes a line from hotwrap itself to the container's log.
func say(format string, a ...any) {
	var b strings.Builder
	b.WriteString("hotwrap: ")
	b.WriteString(fmt.Sprintf(format, a...))
	b.WriteString("\n")
	os.Stderr.WriteString(b.String())
}

// errorBody is {"message": ...}, the error shape of Fn's API.
func errorBody(message string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]string{"message": message})
	return bytes.TrimRight(b.Bytes(), "\n")
}

// failureBody is the 502 message: how the command ended and the last lines of
// its stderr.
func failureBody(code int, tail []byte, lines int) []byte {
	message := "command " + describeExit(code)
	text := strings.TrimRight(strings.ToValidUTF8(string(tail), "\uFFFD"), "\n")
	if text != "" {
		all := splitLines(text)
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		message += "; last lines of stderr:\n" + strings.Join(all, "\n")
	}
	return errorBody(message)
}

// splitLines splits at \n, \r\n and \r, like Python's str.splitlines.
func splitLines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	return strings.Split(strings.ReplaceAll(text, "\r", "\n"), "\n")
}

var deadlineLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
}

// parseDeadline reads Fn-Deadline (RFC 3339, e.g. 2026-11-29T11:54:51.123Z);
// ok is false if it is absent or unreadable (the call then has no deadline).
func parseDeadline(value string) (time.Time, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return time.Time{}, false
	}
	value = strings.Replace(value, " ", "T", 1)
	value = strings.Replace(value, "t", "T", 1)
	if strings.HasSuffix(value, "z") {
		value = value[:len(value)-1] + "Z"
	}
	for _, layout := range deadlineLayouts {
		if t, err := time.ParseInLocation(layout, value, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

var notEnvChars = regexp.MustCompile(`[^A-Za-z0-9_]`)

func joined(h http.Header, name string) string {
	return strings.Join(h.Values(name), ", ")
}

// isHTTP: the call came through an HTTP trigger.
func isHTTP(h http.Header) bool {
	return strings.EqualFold(h.Get("Fn-Intent"), "httprequest") || len(h.Values("Fn-Http-Method")) > 0
}

// callValues are the per-call variables (docs/hotwrap.md), before the size cap.
func callValues(h http.Header) [][2]string {
	values := [][2]string{
		{"FN_CALL_ID", joined(h, "Fn-Call-Id")},
		{"FN_DEADLINE", joined(h, "Fn-Deadline")},
		{"FN_CONTENT_TYPE", joined(h, "Content-Type")},
	}
	// A detached call's attempt (1 for the first), as the default format gives it:
	// a command that retries on its own can tell a second run from the first.
	if len(h.Values("Fn-Attempt")) > 0 {
		values = append(values, [2]string{"FN_ATTEMPT", joined(h, "Fn-Attempt")})
	}
	if !isHTTP(h) {
		return values
	}
	method := "POST"
	if len(h.Values("Fn-Http-Method")) > 0 {
		method = joined(h, "Fn-Http-Method")
	}
	values = append(values, [2]string{"FN_HTTP_METHOD", method})
	values = append(values, [2]string{"FN_HTTP_REQUEST_URL", joined(h, "Fn-Http-Request-Url")})
	// The client's request headers: Fn's Fn-Http-H-* ones unwrapped, plus the
	// Content-Type, which Fn sends as itself. Sorted: the map has no order.
	client := map[string]string{}
	for name, vs := range h {
		if len(name) > len(httpPrefix) && strings.EqualFold(name[:len(httpPrefix)], httpPrefix) {
			client[name[len(httpPrefix):]] = strings.Join(vs, ", ")
		}
	}
	if len(h.Values("Content-Type")) > 0 {
		client["Content-Type"] = joined(h, "Content-Type")
	}
	names := make([]string, 0, len(client))
	for name := range client {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		key := "FN_HTTP_H_" + strings.ToUpper(notEnvChars.ReplaceAllString(name, "_"))
		values = append(values, [2]string{key, client[name]})
	}
	return values
}

// callEnvironment is the command's environment for one call: base (NAME=value
// strings) with the per-call variables set, each left out (and said so) when
// it is too large to pass to exec.
func callEnvironment(base []string, h http.Header, responseFile string) []string {
	set := map[string]string{}
	drop := map[string]bool{}
	for _, kv := range callValues(h) {
		key, value := kv[0], kv[1]
		if size := len(key) + len(value) + 2; size > maxEnvString {
			say("%s is too large for the environment (%d bytes): not set", key, size)
			delete(set, key)
			drop[key] = true
		} else {
			set[key] = value
			delete(drop, key)
		}
	}
	if responseFile != "" {
		set[responseFileEnv] = responseFile
	}
	env := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, over := set[name]; over || drop[name] {
			continue
		}
		env = append(env, kv)
	}
	for name, value := range set {
		env = append(env, name+"="+value)
	}
	return env
}

var (
	tokenRE    = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
	badValueRE = regexp.MustCompile("[\x00-\x08\x0a-\x1f\x7f]")
)

// validHeader: a response header a command may ask for.
func validHeader(name, value string) bool {
	return tokenRE.MatchString(name) && !badValueRE.MatchString(value)
}

// readResponseFile is the status and headers a command wrote to its response
// file (CGI-like "Status: 201" and "Name: value" lines; blank and # lines
// ignored). A missing file means 200 and no headers.
func readResponseFile(path string) (int, [][2]string) {
	status := 200
	var headers [][2]string
	if path == "" {
		return status, headers
	}
	f, err := os.Open(path)
	if err != nil {
		return status, headers
	}
	buf := make([]byte, responseFileMax)
	n, _ := readFull(f, buf)
	f.Close()
	for _, line := range splitLines(string(buf[:n])) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, sep := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if sep && strings.EqualFold(name, "status") {
			code, _, _ := strings.Cut(value, " ")
			if n, err := strconv.Atoi(code); err == nil && strings.Trim(code, "0123456789") == "" && n >= 100 && n <= 599 {
				status = n
				continue
			}
		} else if sep && validHeader(name, value) {
			headers = append(headers, [2]string{name, value})
			continue
		}
		shown := line
		if len(shown) > 80 {
			shown = shown[:80]
		}
		say("ignoring a line of $%s: %q", responseFileEnv, shown)
	}
	return status, headers
}

func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Framing headers describe the hop between hotwrap and the agent; hotwrap sets
// them itself, so a command's own are dropped rather than forwarded.
var hopHeaders = map[string]bool{
	"content-length": true, "transfer-encoding": true, "connection": true,
	"keep-alive": true, "fn-http-status": true,
}

// setContractHeaders puts on w the hot contract's 200 headers that carry status
// and headers to an HTTP-trigger caller: Content-Type as itself, every other
// header as Fn-Http-H-<name> and the status as Fn-Http-Status (as Fn's FDKs do).
// Names are kept as spelt, not canonicalised.
func setContractHeaders(w http.Header, status int, headers [][2]string, defaultType string) {
	contentType := ""
	for _, kv := range headers {
		name, value := kv[0], kv[1]
		lower := strings.ToLower(name)
		switch {
		case lower == "content-type":
			if contentType == "" {
				contentType = value
			}
		case hopHeaders[lower]:
		case strings.HasPrefix(lower, "fn-http-h-"):
			w[name] = append(w[name], value)
		default:
			w[httpPrefix+name] = append(w[httpPrefix+name], value)
		}
	}
	if contentType == "" {
		contentType = defaultType
	}
	w["Content-Type"] = []string{contentType}
	w["Fn-Http-Status"] = []string{itoa(status)}
}
