package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// maxEvents bounds the timeline a session keeps.
const maxEvents = 64

var (
	errStalled      = errors.New("no flow-control credit")
	errStreamClosed = errors.New("stream closed by the server")
)

// session is one raw HTTP/2 connection to the server, h2c with prior
// knowledge: the client preface and a SETTINGS frame are written by dial,
// and every later frame is written by the attack, through the framer, as
// it chooses. Frames from the server are read only if the attack calls
// startReader: the flood attacks never do while flooding.
//
// Ownership: the attack's goroutine writes; the reader goroutine reads and
// also writes the acknowledgements and window updates a client owes. Both
// write under wmu. The server's state as seen so far (settings, windows,
// streams, GOAWAY, resets) is written by the reader and read by the attack
// under mu; cond is broadcast whenever it changes.
type session struct {
	nc    net.Conn
	start time.Time // the timeline's origin; guarded by mu after dial

	wmu sync.Mutex // guards bw and the write side of fr
	bw  *bufio.Writer
	fr  *http2.Framer // read side: the reader goroutine only

	// Set before startReader, then read-only.
	credit   bool  // send WINDOW_UPDATE for every DATA frame received
	ackPings bool  // answer the server's PINGs
	recvWin  int64 // our SETTINGS_INITIAL_WINDOW_SIZE

	readerDone chan struct{} // closed when the reader returns; nil if none

	nextID uint32 // written by the attack goroutine only

	mu          sync.Mutex
	cond        *sync.Cond
	peer        map[http2.SettingID]uint32 // the server's SETTINGS
	gotSettings bool
	peerInitWin int64 // the server's SETTINGS_INITIAL_WINDOW_SIZE
	connWin     int64 // our send window on the connection
	streams     map[uint32]*stream
	goAway      *goAwayInfo
	readErr     error
	readErrAt   time.Duration
	closing     bool // we closed the connection ourselves
	rsts        map[http2.ErrCode]int
	pingAcks    int
	settingAcks int
	dataBytes   int64
	lastFrame   time.Time // when the reader last got a frame
	events      []string
}

// stream is what the server sent on one stream. Guarded by session.mu.
type stream struct {
	sendWin  int64 // our send window on the stream
	header   bool  // the response headers arrived
	status   string
	message  string
	data     int64
	ended    bool // END_STREAM from the server
	rst      bool
	rstCode  http2.ErrCode
	doneAt   time.Duration // when it ended or was reset
	endedSet bool
}

type goAwayInfo struct {
	code   http2.ErrCode
	last   uint32
	debug  string
	at     time.Duration
	frames int
}

// dial opens a connection and writes the client preface and settings.
// Writes fail after writeDeadline.
func dial(e *env, settings []http2.Setting, writeDeadline time.Time) (*session, error) {
	nc, err := net.DialTimeout("tcp", e.addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	e.track(nc)
	_ = nc.SetWriteDeadline(writeDeadline)
	s := &session{
		nc:          nc,
		start:       time.Now(),
		bw:          bufio.NewWriterSize(nc, 64<<10),
		recvWin:     65535,
		peer:        map[http2.SettingID]uint32{},
		peerInitWin: 65535,
		connWin:     65535,
		streams:     map[uint32]*stream{},
		rsts:        map[http2.ErrCode]int{},
		nextID:      1,
		ackPings:    true,
	}
	s.cond = sync.NewCond(&s.mu)
	s.fr = http2.NewFramer(s.bw, bufio.NewReaderSize(nc, 64<<10))
	s.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	s.fr.MaxHeaderListSize = 64 << 20
	for _, st := range settings {
		if st.ID == http2.SettingInitialWindowSize {
			s.recvWin = int64(st.Val)
		}
	}
	if _, err := s.bw.WriteString(http2.ClientPreface); err != nil {
		nc.Close()
		return nil, err
	}
	if err := s.fr.WriteSettings(settings...); err != nil {
		nc.Close()
		return nil, err
	}
	if err := s.bw.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

func (s *session) since() time.Duration { return time.Since(s.start) }

// close closes the connection and waits for the reader.
func (s *session) close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.nc.Close()
	if s.readerDone != nil {
		<-s.readerDone
	}
}

// event records a line of the timeline. Called with mu held.
func (s *session) event(format string, args ...any) {
	if len(s.events) < maxEvents {
		s.events = append(s.events, fmt.Sprintf("%s %s", secs(s.since()), fmt.Sprintf(format, args...)))
	}
}

// write runs f on the framer under wmu and flushes.
func (s *session) write(f func(fr *http2.Framer) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := f(s.fr); err != nil {
		return err
	}
	return s.bw.Flush()
}

// newStream returns the next client stream id and starts tracking it.
func (s *session) newStream() uint32 {
	id := s.nextID
	s.nextID += 2
	s.mu.Lock()
	s.streams[id] = &stream{sendWin: s.peerInitWin}
	s.mu.Unlock()
	return id
}

// maxFrame is the largest frame payload the server accepts.
func (s *session) maxFrame() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.peer[http2.SettingMaxFrameSize]; ok && v >= 16384 {
		return int(v)
	}
	return 16384
}

// setting returns the server's value of id and whether it sent one.
func (s *session) setting(id http2.SettingID) (uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.peer[id]
	return v, ok
}

// streamLimit returns n, or the server's SETTINGS_MAX_CONCURRENT_STREAMS
// if it advertised fewer.
func (s *session) streamLimit(n uint32) uint32 {
	if v, ok := s.setting(http2.SettingMaxConcurrentStreams); ok && v < n {
		return v
	}
	return n
}

// writeHeaders writes a header block on stream id: a HEADERS frame and as
// many CONTINUATION frames as the server's frame size requires.
func (s *session) writeHeaders(id uint32, block []byte, endStream bool) error {
	max := s.maxFrame()
	return s.write(func(fr *http2.Framer) error {
		first := block
		if len(first) > max {
			first = first[:max]
		}
		rest := block[len(first):]
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: endStream, EndHeaders: len(rest) == 0}); err != nil {
			return err
		}
		for len(rest) > 0 {
			n := min(len(rest), max)
			if err := fr.WriteContinuation(id, n == len(rest), rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
}

// writeData writes data on stream id as a well-behaved client does: in
// frames no larger than the server allows and only as far as the stream
// and connection windows allow, waiting for WINDOW_UPDATE (the reader must
// be running). It gives up with errStalled when no credit comes for stall,
// and with errStreamClosed when the server resets or ends the stream while
// it waits.
func (s *session) writeData(id uint32, data []byte, endStream bool, stall time.Duration) error {
	max := s.maxFrame()
	for first := true; first || len(data) > 0; first = false {
		n, err := s.takeCredit(id, min(len(data), max), stall)
		if err != nil {
			return err
		}
		end := endStream && n == len(data)
		chunk := data[:n]
		data = data[n:]
		if err := s.write(func(fr *http2.Framer) error { return fr.WriteData(id, end, chunk) }); err != nil {
			return err
		}
	}
	return nil
}

// takeCredit waits until both windows are open and takes up to want bytes
// of credit from them. want 0 (an empty frame) needs no credit.
func (s *session) takeCredit(id uint32, want int, stall time.Duration) (int, error) {
	if want == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[id]
	ok := s.waitLocked(stall, func() bool {
		return s.readErr != nil || st.rst || st.ended || (s.connWin > 0 && st.sendWin > 0)
	})
	switch {
	case s.readErr != nil:
		return 0, s.readErr
	case st.rst || st.ended:
		return 0, errStreamClosed
	case !ok:
		return 0, errStalled
	}
	n := int64(want)
	n = min(n, s.connWin, st.sendWin)
	s.connWin -= n
	st.sendWin -= n
	return int(n), nil
}

// waitLocked waits with mu held until cond returns true or d passes, and
// reports whether cond returned true.
func (s *session) waitLocked(d time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.Now().Add(d)
	t := time.AfterFunc(d, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer t.Stop()
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		s.cond.Wait()
	}
	return true
}

// wait is waitLocked for callers without mu.
func (s *session) wait(d time.Duration, cond func() bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waitLocked(d, cond)
}

// waitQuiet waits until the connection fails, or the server has sent
// nothing for quiet, or d passes.
func (s *session) waitQuiet(quiet, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		done := s.readErr != nil || (!s.lastFrame.IsZero() && time.Since(s.lastFrame) > quiet)
		s.mu.Unlock()
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSettings waits for the server's first SETTINGS frame.
func (s *session) waitSettings(d time.Duration) bool {
	return s.wait(d, func() bool { return s.gotSettings || s.readErr != nil })
}

// waitDone waits until stream id ends, is reset, or the connection fails,
// and reports whether the stream ended or was reset.
func (s *session) waitDone(id uint32, d time.Duration) bool {
	return s.wait(d, func() bool {
		st := s.streams[id]
		return st.ended || st.rst || s.readErr != nil
	})
}

// streamResult describes how stream id ended, for the table.
func (s *session) streamResult(id uint32) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[id]
	switch {
	case st.status != "":
		r := "grpc-status " + st.status
		if st.message != "" {
			r += fmt.Sprintf(" %q", clip(st.message, 100))
		}
		return r
	case st.rst:
		return "RST_STREAM(" + st.rstCode.String() + ")"
	case st.ended:
		return "ended without grpc-status"
	case s.goAway != nil:
		return "GOAWAY(" + s.goAway.code.String() + ")"
	case s.readErr != nil:
		return "connection closed"
	}
	return "no answer"
}

// startReader starts the goroutine that reads the server's frames.
func (s *session) startReader() {
	s.readerDone = make(chan struct{})
	go s.read()
}

func (s *session) read() {
	defer close(s.readerDone)
	for {
		f, err := s.fr.ReadFrame()
		if err != nil {
			s.mu.Lock()
			if !s.closing {
				s.event("connection closed (%v)", shortErr(err))
			}
			s.readErr = err
			s.readErrAt = s.since()
			s.cond.Broadcast()
			s.mu.Unlock()
			return
		}
		s.handle(f)
	}
}

// handle records one frame from the server and writes what a client owes
// for it. It runs on the reader goroutine.
func (s *session) handle(f http2.Frame) {
	var reply func(fr *http2.Framer) error
	s.mu.Lock()
	s.lastFrame = time.Now()
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			s.settingAcks++
			break
		}
		_ = f.ForeachSetting(func(st http2.Setting) error {
			s.peer[st.ID] = st.Val
			if st.ID == http2.SettingInitialWindowSize {
				delta := int64(st.Val) - s.peerInitWin
				s.peerInitWin = int64(st.Val)
				for _, x := range s.streams {
					x.sendWin += delta
				}
			}
			return nil
		})
		if !s.gotSettings {
			s.gotSettings = true
			s.event("SETTINGS %s", settingsString(f))
		}
		reply = func(fr *http2.Framer) error { return fr.WriteSettingsAck() }
	case *http2.PingFrame:
		if f.IsAck() {
			s.pingAcks++
		} else if s.ackPings {
			data := f.Data
			reply = func(fr *http2.Framer) error { return fr.WritePing(true, data) }
		}
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			s.connWin += int64(f.Increment)
		} else if st := s.streams[f.StreamID]; st != nil {
			st.sendWin += int64(f.Increment)
		}
	case *http2.MetaHeadersFrame:
		st := s.stream(f.StreamID)
		if !st.header {
			st.header = true
			s.event("HEADERS on stream %d", f.StreamID)
		}
		if v := f.PseudoValue("status"); v != "" && v != "200" {
			st.status = "http " + v
		}
		for _, hf := range f.RegularFields() {
			switch hf.Name {
			case "grpc-status":
				st.status = hf.Value
			case "grpc-message":
				st.message = hf.Value
			}
		}
		if f.StreamEnded() {
			s.endStream(f.StreamID, st)
		}
	case *http2.DataFrame:
		st := s.stream(f.StreamID)
		n := len(f.Data())
		if st.data == 0 && n > 0 {
			s.event("first DATA on stream %d", f.StreamID)
		}
		st.data += int64(n)
		s.dataBytes += int64(n)
		if s.credit && f.Length > 0 {
			id, inc := f.StreamID, f.Length
			reply = func(fr *http2.Framer) error {
				if err := fr.WriteWindowUpdate(0, inc); err != nil {
					return err
				}
				return fr.WriteWindowUpdate(id, inc)
			}
		}
		if f.StreamEnded() {
			s.endStream(f.StreamID, st)
		}
	case *http2.RSTStreamFrame:
		st := s.stream(f.StreamID)
		if !st.rst {
			st.rst, st.rstCode = true, f.ErrCode
			if !st.endedSet {
				st.endedSet, st.doneAt = true, s.since()
			}
		}
		s.rsts[f.ErrCode]++
		if s.rsts[f.ErrCode] == 1 {
			s.event("RST_STREAM(%s) on stream %d", f.ErrCode, f.StreamID)
		}
	case *http2.GoAwayFrame:
		if s.goAway == nil {
			s.goAway = &goAwayInfo{code: f.ErrCode, last: f.LastStreamID, debug: string(f.DebugData()), at: s.since()}
			s.event("GOAWAY(%s)", f.ErrCode)
		} else if f.ErrCode != http2.ErrCodeNo {
			s.goAway.code, s.goAway.debug, s.goAway.last = f.ErrCode, string(f.DebugData()), f.LastStreamID
		}
		s.goAway.frames++
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	if reply != nil {
		_ = s.write(reply)
	}
}

// stream returns the record of stream id, creating it for streams the
// attack opened without newStream. Called with mu held.
func (s *session) stream(id uint32) *stream {
	st := s.streams[id]
	if st == nil {
		st = &stream{sendWin: s.peerInitWin}
		s.streams[id] = st
	}
	return st
}

func (s *session) endStream(id uint32, st *stream) {
	st.ended = true
	if !st.endedSet {
		st.endedSet, st.doneAt = true, s.since()
	}
	if st.status != "" && st.status != "0" {
		s.event("stream %d ended: grpc-status %s", id, st.status)
	}
}

// summary describes what the server did on the connection: GOAWAY, resets,
// grpc-status of the streams, whether it closed the connection.
func (s *session) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	if g := s.goAway; g != nil {
		p := fmt.Sprintf("GOAWAY(%s", g.code)
		if g.debug != "" {
			p += fmt.Sprintf(" %q", clip(g.debug, 50))
		}
		parts = append(parts, p+") at "+secs(g.at))
	}
	if len(s.rsts) > 0 {
		parts = append(parts, "RST_STREAM "+countCodes(s.rsts))
	}
	statuses := map[string]int{}
	for _, st := range s.streams {
		if st.status != "" {
			statuses[st.status]++
		}
	}
	if len(statuses) > 0 {
		var keys []string
		for k := range statuses {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var ss []string
		for _, k := range keys {
			ss = append(ss, fmt.Sprintf("%d×%s", statuses[k], k))
		}
		parts = append(parts, "grpc-status "+strings.Join(ss, ", "))
	}
	if s.readErr != nil && !s.closing {
		parts = append(parts, "connection closed at "+secs(s.readErrAt))
	}
	if len(parts) == 0 {
		return "held (connection open, no GOAWAY or reset)"
	}
	return strings.Join(parts, "; ")
}

func countCodes(m map[http2.ErrCode]int) string {
	var codes []http2.ErrCode
	for c := range m {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool { return codes[i] < codes[j] })
	var ss []string
	for _, c := range codes {
		ss = append(ss, fmt.Sprintf("%d×%s", m[c], c))
	}
	return strings.Join(ss, ", ")
}

func settingsString(f *http2.SettingsFrame) string {
	var ss []string
	_ = f.ForeachSetting(func(st http2.Setting) error {
		ss = append(ss, fmt.Sprintf("%s=%d", strings.TrimPrefix(st.ID.String(), "SETTINGS_"), st.Val))
		return nil
	})
	return "[" + strings.Join(ss, " ") + "]"
}

// secs formats a duration for the table: milliseconds under a second,
// else seconds with two decimals.
func secs(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// shortErr names an error from a connection briefly.
func shortErr(err error) string {
	msg := err.Error()
	for _, k := range []string{"connection reset by peer", "broken pipe", "i/o timeout", "use of closed network connection", "EOF"} {
		if strings.Contains(msg, k) {
			return k
		}
	}
	return clip(msg, 60)
}
