package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sampleEvery is how often a sampler reads the server's VmRSS. VmHWM is the
// peak of the whole process lifetime, so the peak of one attack is the
// largest of these samples.
const sampleEvery = 50 * time.Millisecond

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// rssKiB returns the VmRSS of process pid in KiB, or -1 when it cannot be
// read (no such process, or pid <= 0).
func rssKiB(pid int) int64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return -1
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1 // a zombie has no VmRSS line
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "State:"); ok {
			return !strings.HasPrefix(strings.TrimSpace(v), "Z")
		}
	}
	return true
}

// cpuTime returns the user plus system CPU time process pid has used, or -1
// when it cannot be read.
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields from the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(ut+st) * time.Second / clockTicks
}

// mib formats a KiB count as MiB with one decimal, or "-" when unknown.
func mib(kib int64) string {
	if kib < 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64)
}

// sampler reads a process's VmRSS every sampleEvery from start until stop
// and keeps the largest value. When limitKiB is positive and a sample
// exceeds it, over is called once, from the sampler's goroutine.
type sampler struct {
	pid      int
	limitKiB int64
	over     func(kib int64)

	stopc chan struct{} // closed by stop
	done  chan struct{} // closed by the sampling goroutine when it returns

	mu  sync.Mutex
	max int64 // guarded by mu; written by the sampling goroutine
}

func startSampler(pid int, limitKiB int64, over func(int64)) *sampler {
	s := &sampler{pid: pid, limitKiB: limitKiB, over: over, stopc: make(chan struct{}), done: make(chan struct{}), max: rssKiB(pid)}
	go s.run()
	return s
}

func (s *sampler) run() {
	defer close(s.done)
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	fired := false
	for {
		select {
		case <-s.stopc:
			return
		case <-t.C:
		}
		v := rssKiB(s.pid)
		s.mu.Lock()
		if v > s.max {
			s.max = v
		}
		s.mu.Unlock()
		if !fired && s.limitKiB > 0 && v > s.limitKiB && s.over != nil {
			fired = true
			s.over(v)
		}
	}
}

// stop ends sampling, takes one last sample and returns the largest.
func (s *sampler) stop() int64 {
	close(s.stopc)
	<-s.done
	if v := rssKiB(s.pid); v > s.max {
		s.max = v
	}
	return s.max
}
