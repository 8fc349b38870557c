package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Proc is a process seen in /proc: its pid, its name and its start time, which tells it from
// a later process given the same pid.
type Proc struct {
	Pid   int
	Comm  string
	start string
}

// stat reads a process's name, state, parent pid and start time from /proc/<pid>/stat.
func stat(pid int) (comm, state string, ppid int, start string, ok bool) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", "", 0, "", false
	}
	// The name is in parentheses and may hold spaces or parentheses: split after the last ")".
	s := string(raw)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", "", 0, "", false
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3 (state), f[19] field 22 (starttime)
	if len(f) < 20 {
		return "", "", 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return s[open+1 : end], f[0], ppid, f[19], true
}

// Descendants lists the live processes below pid: its children, theirs, and so on.
func Descendants(pid int) []Proc {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]Proc{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, state, ppid, start, ok := stat(p)
		if ok && state != "Z" {
			children[ppid] = append(children[ppid], Proc{Pid: p, Comm: comm, start: start})
		}
	}
	var out []Proc
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c.Pid)
		}
	}
	return out
}

// Alive reports whether the process still runs: a zombie has ended (nobody may reap an
// orphan here), and so has a pid now held by another process.
func (p Proc) Alive() bool {
	_, state, _, start, ok := stat(p.Pid)
	return ok && state != "Z" && start == p.start
}

// WaitGone fails the test unless every one of procs has ended within timeout.
func WaitGone(t testing.TB, procs []Proc, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var alive []Proc
		for _, p := range procs {
			if p.Alive() {
				alive = append(alive, p)
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range alive {
				// Leave nothing behind for the next test, then fail.
				if proc, err := os.FindProcess(p.Pid); err == nil {
					_ = proc.Kill()
				}
			}
			t.Fatalf("still running %s after their parent ended: %+v", timeout, alive)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Names are the processes' names.
func Names(procs []Proc) []string {
	out := make([]string, len(procs))
	for i, p := range procs {
		out[i] = p.Comm
	}
	return out
}
