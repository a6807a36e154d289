package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestCallEnvironmentUsesFnRequestHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Fn-Call-Id", "c")
	h.Set("Fn-Http-H-X-Dashed-Name", "1")
	h.Add("Fn-Http-H-X-Twice", "a")
	h.Add("Fn-Http-H-X-Twice", "b")
	h.Set("Fn-Http-Method", "GET")
	h.Set("Fn-Http-Request-Url", "http://u/t/a")
	h.Set("Fn-Intent", "httprequest")
	h.Set("Content-Type", "text/csv")
	env := envMap(callEnvironment([]string{"BASE=b", "FN_CALL_ID=stale"}, h, ""))
	want := map[string]string{
		"BASE": "b", "FN_CALL_ID": "c", "FN_DEADLINE": "", "FN_CONTENT_TYPE": "text/csv",
		"FN_HTTP_METHOD": "GET", "FN_HTTP_REQUEST_URL": "http://u/t/a",
		"FN_HTTP_H_X_DASHED_NAME": "1", "FN_HTTP_H_X_TWICE": "a, b",
		"FN_HTTP_H_CONTENT_TYPE": "text/csv",
	}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("got %v, want %v", env, want)
	}
}

func TestCallEnvironmentWithoutTriggerHasNoHTTPVariables(t *testing.T) {
	h := http.Header{}
	h.Set("Fn-Call-Id", "x")
	h.Set("X-Other", "y")
	env := envMap(callEnvironment(nil, h, "/tmp/r/1.headers"))
	for k := range env {
		if strings.HasPrefix(k, "FN_HTTP_") {
			t.Fatalf("unexpected %s in %v", k, env)
		}
	}
	if env[responseFileEnv] != "/tmp/r/1.headers" {
		t.Fatalf("response file: %v", env)
	}
}

func TestCallEnvironmentLeavesOutValuesTooLargeForExec(t *testing.T) {
	h := http.Header{}
	h.Set("Fn-Intent", "httprequest")
	h.Set("Fn-Http-H-X-Big", strings.Repeat("b", maxEnvString))
	h.Set("Fn-Http-H-X-Fits", strings.Repeat("f", maxEnvString-len("FN_HTTP_H_X_FITS")-2))
	h.Set("Fn-Http-Request-Url", "http://x/?"+strings.Repeat("u", 200_000))
	env := envMap(callEnvironment([]string{"FN_HTTP_REQUEST_URL=stale"}, h, ""))
	if _, ok := env["FN_HTTP_H_X_BIG"]; ok {
		t.Fatal("FN_HTTP_H_X_BIG should be left out")
	}
	if _, ok := env["FN_HTTP_REQUEST_URL"]; ok {
		t.Fatal("an oversized value must not leave the stale base value either")
	}
	if len(env["FN_HTTP_H_X_FITS"]) != maxEnvString-len("FN_HTTP_H_X_FITS")-2 {
		t.Fatal("a value exactly at the limit must be kept")
	}
}

func TestReadResponseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	if status, headers := readResponseFile(path); status != 200 || headers != nil {
		t.Fatalf("missing file: %d %v", status, headers)
	}
	text := "Status: 418 I'm a teapot\r\nX-A:  b \nStatus: nonsense\n# note\n\nBad Name: v\nnot a header\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	status, headers := readResponseFile(path)
	if status != 418 || !reflect.DeepEqual(headers, [][2]string{{"X-A", "b"}}) {
		t.Fatalf("got %d %v", status, headers)
	}
}

func TestContractHeaders(t *testing.T) {
	w := http.Header{}
	in := [][2]string{
		{"Content-Type", "text/csv"}, {"X-Thing", "yes"}, {"X-Thing", "again"},
		{"Content-Length", "3"}, {"Fn-Http-H-Kept", "k"}, {"location", "/x"},
	}
	setContractHeaders(w, 404, in, octetStream)
	want := http.Header{
		"Content-Type": {"text/csv"}, "Fn-Http-H-X-Thing": {"yes", "again"},
		"Fn-Http-H-Kept": {"k"}, "Fn-Http-H-location": {"/x"}, "Fn-Http-Status": {"404"},
	}
	if !reflect.DeepEqual(w, want) {
		t.Fatalf("got %v", w)
	}
	plain := http.Header{}
	setContractHeaders(plain, 200, nil, "application/json")
	if plain.Get("Content-Type") != "application/json" || plain.Get("Fn-Http-Status") != "200" {
		t.Fatalf("got %v", plain)
	}
}

func TestFailureBodyKeepsTheLastLines(t *testing.T) {
	var tail strings.Builder
	for i := 0; i < 50; i++ {
		tail.WriteString("l" + itoa(i) + "\n")
	}
	var got struct{ Message string }
	if err := json.Unmarshal(failureBody(2, []byte(tail.String()), 3), &got); err != nil {
		t.Fatal(err)
	}
	if got.Message != "command exited with code 2; last lines of stderr:\nl47\nl48\nl49" {
		t.Fatalf("got %q", got.Message)
	}
	json.Unmarshal(failureBody(-9, nil, 10), &got)
	if got.Message != "command was killed by signal SIGKILL" {
		t.Fatalf("got %q", got.Message)
	}
}

func TestParseDeadline(t *testing.T) {
	cases := map[string]time.Time{
		"2026-11-29T11:54:51Z":           time.Date(2026, 11, 29, 11, 54, 51, 0, time.UTC),
		"2026-11-29T11:54:51.123456789Z": time.Date(2026, 11, 29, 11, 54, 51, 123456789, time.UTC),
		"2026-11-29T12:54:51.5+01:00":    time.Date(2026, 11, 29, 11, 54, 51, 500000000, time.UTC),
		"2026-11-29 11:54:51z":           time.Date(2026, 11, 29, 11, 54, 51, 0, time.UTC),
		" 2026-11-29T11:54:51-0130":      time.Date(2026, 11, 29, 13, 24, 51, 0, time.UTC),
	}
	for text, want := range cases {
		got, ok := parseDeadline(text)
		if !ok || !got.Equal(want) {
			t.Errorf("%q: got %v %v, want %v", text, got, ok, want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "2026-13-01T00:00:00Z", "2026-11-29"} {
		if _, ok := parseDeadline(bad); ok {
			t.Errorf("%q should not parse", bad)
		}
	}
}

func TestOptions(t *testing.T) {
	none := func(string) string { return "" }
	o, err := parseOptions([]string{"--mode=lines", "--buffer", "10", "--", "cmd", "--mode", "x"}, none)
	if err != nil || o.mode != "lines" || o.buffer != 10 || !reflect.DeepEqual(o.command, []string{"cmd", "--mode", "x"}) {
		t.Fatalf("got %+v %v", o, err)
	}
	env := map[string]string{"HOTWRAP_MODE": "lines", "HOTWRAP_BUFFER_BYTES": "5"}
	o, _ = parseOptions([]string{"cmd"}, func(k string) string { return env[k] })
	if o.mode != "lines" || o.buffer != 5 {
		t.Fatalf("from the environment: %+v", o)
	}
	o, _ = parseOptions([]string{"--buffer", "7", "cmd"}, func(k string) string { return env[k] })
	if o.buffer != 7 {
		t.Fatalf("the command line wins: %+v", o)
	}
	for _, bad := range [][]string{{}, {"--nope", "cmd"}, {"--mode"}, {"--mode", "x", "cmd"}, {"--buffer=-1", "c"}, {"--buffer=+1", "c"}} {
		if _, err := parseOptions(bad, none); err == nil {
			t.Errorf("%q should be refused", bad)
		}
	}
}

func TestCommandArgv(t *testing.T) {
	if got := commandArgv([]string{"node ./func.js"}); !reflect.DeepEqual(got, []string{"/bin/sh", "-c", "node ./func.js"}) {
		t.Fatal(got)
	}
	if got := commandArgv([]string{"node", "./func.js"}); !reflect.DeepEqual(got, []string{"node", "./func.js"}) {
		t.Fatal(got)
	}
}

func TestListenerPath(t *testing.T) {
	if p, err := listenerPath("unix:/tmp/iofs/lsnr.sock"); err != nil || p != "/tmp/iofs/lsnr.sock" {
		t.Fatal(p, err)
	}
	for _, bad := range []string{"", "tcp:1", "unix:", "unix:/tmp/", "unix:/" + strings.Repeat("a", 107)} {
		if _, err := listenerPath(bad); err == nil {
			t.Errorf("%q should be refused", bad)
		}
	}
	if phonyPath("/tmp/iofs/lsnr.sock") != "/tmp/iofs/phonylsnr.sock" {
		t.Fatal(phonyPath("/tmp/iofs/lsnr.sock"))
	}
}

func TestOomKillField(t *testing.T) {
	v2 := "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n"
	if n, ok := oomKillField(v2); !ok || n != 2 {
		t.Fatalf("cgroup v2: got %d %v", n, ok)
	}
	v1 := "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n"
	if n, ok := oomKillField(v1); !ok || n != 7 {
		t.Fatalf("cgroup v1: got %d %v", n, ok)
	}
	if _, ok := oomKillField("nothing here\n"); ok {
		t.Fatal("no oom_kill line must not parse")
	}
	if killedForMemory(1, 0) || killedForMemory(-9, -1) {
		t.Fatal("only a SIGKILL with a readable counter can be an OOM kill")
	}
}

func TestCallEnvironmentHasTheAttemptOfADetachedCall(t *testing.T) {
	h := http.Header{}
	h.Set("Fn-Call-Id", "c")
	if _, ok := envMap(callEnvironment(nil, h, ""))["FN_ATTEMPT"]; ok {
		t.Fatal("FN_ATTEMPT set for a call without Fn-Attempt")
	}
	h.Set("Fn-Attempt", "2")
	if got := envMap(callEnvironment(nil, h, ""))["FN_ATTEMPT"]; got != "2" {
		t.Fatalf("FN_ATTEMPT = %q, want 2", got)
	}
}
