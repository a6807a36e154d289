package main

import (
	"os"
	"strconv"
	"strings"
)

// The container's OOM-kill counter: cgroup v2's memory.events or cgroup v1's
// memory.oom_control, as the container sees its own cgroup. When the command is
// SIGKILLed and the counter went up during the call, the kernel's OOM killer did
// it (the container survives: only the command, the largest process, was killed),
// and the 502 says so with the Fn-Hotwrap-Oom header, which the agent reports as
// "out of memory".
var oomCounterFiles = []string{
	"/sys/fs/cgroup/memory.events",
	"/sys/fs/cgroup/memory/memory.oom_control",
}

// oomKills is the counter's value, or -1 when no counter is readable.
func oomKills() int64 {
	for _, path := range oomCounterFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if n, ok := oomKillField(string(data)); ok {
			return n
		}
	}
	return -1
}

// oomKillField finds the "oom_kill N" line of a memory.events / oom_control file.
func oomKillField(text string) (int64, bool) {
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == "oom_kill" {
			n, err := strconv.ParseInt(fields[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// killedForMemory: a SIGKILLed command whose call saw the OOM counter go up.
func killedForMemory(code int, before int64) bool {
	if code != -9 || before < 0 {
		return false
	}
	return oomKills() > before
}
