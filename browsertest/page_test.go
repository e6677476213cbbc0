package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
)

// pageTest starts a chat server and a headless Chromium tab for one test
// of the page, bounded by limit.
func pageTest(t *testing.T, limit time.Duration) (srv *chatServer, ctx, tab context.Context, run func(what string, a ...chromedp.Action[chromedp.Void])) {
	t.Helper()
	exe := chromium(t)
	srv = &chatServer{t: t, bin: buildServer(t), addr: freeAddr(t)}
	srv.start()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true))...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	run = func(what string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, a...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	return srv, ctx, tab, run
}

// eval returns the string a JavaScript expression evaluates to in tab.
func eval(t *testing.T, tab context.Context, js string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return s
}

// waitWho asks the Go member who is in its room until the answer is want.
func waitWho(t *testing.T, m *goMember, want string) {
	t.Helper()
	var got string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if got = who(t, m); got == want {
			return
		}
	}
	t.Fatalf("the room holds %s, want %s", got, want)
}

// who asks the Go member's room who is there.
func who(t *testing.T, m *goMember) string {
	t.Helper()
	m.send(&chatpb.ClientEvent_Who{Who: &chatpb.Who{}})
	var got string
	m.await(func(ev *chatpb.ServerEvent) bool {
		mm, ok := ev.Event.(*chatpb.ServerEvent_Members)
		if ok {
			got = strings.Join(mm.Members.Nicks, ",")
		}
		return ok
	})
	return got
}

// kill ends the chat server at once, as a crash or a cut would.
func (s *chatServer) kill() {
	_ = s.cmd.Process.Kill()
	for range s.out {
	}
	_ = s.cmd.Wait()
}

// TestPageReconnectWait: while the page waits to reconnect, what is typed
// stays in the box (with a notice, the status still saying it is
// reconnecting), the rejoin keeps the log, and Leave calls the rejoin off.
func TestPageReconnectWait(t *testing.T) {
	srv, ctx, tab, run := pageTest(t, 2*time.Minute)
	base := "http://" + srv.addr
	run("ann joins", joinPage(base, "ann", "r2"))
	gopher := join(t, ctx, srv.addr, "r2", "gopher")
	gopher.send(&chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: "before the cut"}})
	run("ann sees the message", waitText("#log", "before the cut"))
	gopher.c.Close()

	srv.kill()
	run("the page waits to reconnect", waitText("#status", "Reconnecting in"))
	run("ann types", say("typed while cut off"), waitText("#log", "Not connected"))
	if v := eval(t, tab, `document.querySelector("#text").value`); v != "typed while cut off" {
		t.Errorf("the box holds %q after typing while cut off", v)
	}
	if s := eval(t, tab, `document.querySelector("#status").textContent`); !strings.Contains(s, "Reconnecting") {
		t.Errorf("status %q no longer says the page is reconnecting", s)
	}

	srv.start()
	run("the page rejoins", waitText("#status", "Connected to #r2 as ann"), waitText("#log", "You rejoined #r2"))
	logText := eval(t, tab, `document.querySelector("#log").textContent`)
	for _, want := range []string{"before the cut", "Conversation ended: UNAVAILABLE"} {
		if !strings.Contains(logText, want) {
			t.Errorf("after the rejoin the log lacks %q: %s", want, logText)
		}
	}
	run("ann sends what was kept", chromedp.SendKeys("#text", "\r"))
	gopher2 := join(t, ctx, srv.addr, "r2", "gopher2")
	defer gopher2.c.Close()

	srv.kill()
	run("the page waits to reconnect again", waitText("#status", "Reconnecting in"))
	run("ann leaves while waiting", chromedp.Click("#leave"), chromedp.WaitVisible("#join-form"), waitText("#status", "You left #r2"))
	srv.start()
	defer srv.stop()
	gopher3 := join(t, ctx, srv.addr, "r2", "gopher3")
	defer gopher3.c.Close()
	time.Sleep(4 * time.Second) // longer than the backoff the page was in
	if got := who(t, gopher3); got != "gopher3" {
		t.Errorf("after leaving during the reconnect wait, the room holds %s", got)
	}
	if hidden := eval(t, tab, `String(document.querySelector("#join-form").hidden)`); hidden != "false" {
		t.Errorf("the join form is hidden again: the page rejoined")
	}
}

// TestPageJoinGuards: /join to the room the member is in, or to a room
// name the server refuses, is answered on the page without ending the
// conversation; and a join form submitted twice joins once.
func TestPageJoinGuards(t *testing.T) {
	srv, ctx, tab, run := pageTest(t, 2*time.Minute)
	defer srv.stop()
	base := "http://" + srv.addr
	run("ann joins", joinPage(base, "ann", "r1"))
	gopher := join(t, ctx, srv.addr, "r1", "gopher")
	defer gopher.c.Close()
	run("/join the same room", say("/join r1"), waitText("#log", "You are already in #r1."))
	run("/join a bad name", say("/join bad!room"), waitText("#log", "A room is up to 32 letters"))
	if v := eval(t, tab, `document.querySelector("#text").value`); v != "/join bad!room" {
		t.Errorf("the box holds %q, want the refused command back", v)
	}
	run("ann is still in #r1", waitText("#status", "Connected to #r1 as ann"), chromedp.Evaluate[chromedp.Void](`document.querySelector("#text").value = ""`))
	run("ann still talks", say("still here"))
	gopher.awaitMessage("ann", "still here")
	// A pasted tab is a space; a line separator, which the server refuses
	// (and would end the conversation for), is refused by the page.
	run("a pasted tab", chromedp.Evaluate[chromedp.Void](`(document.querySelector("#text").value = "tab\there", true)`), say(""))
	gopher.awaitMessage("ann", "tab here")
	run("a pasted line separator", chromedp.Evaluate[chromedp.Void](`(document.querySelector("#text").value = "two\u2028lines", true)`), say(""),
		waitText("#log", "send one line of text"))
	if v := eval(t, tab, `document.querySelector("#text").value`); v != "two\u2028lines" {
		t.Errorf("the box holds %q, want the refused line back", v)
	}
	run("ann is still connected", chromedp.Evaluate[chromedp.Void](`document.querySelector("#text").value = ""`), say("and still here"))
	gopher.awaitMessage("ann", "and still here")
	if got := who(t, gopher); got != "ann,gopher" {
		t.Errorf("room: %s", got)
	}

	run("ann leaves", chromedp.Click("#leave"), chromedp.WaitVisible("#join-form"))
	waitWho(t, gopher, "gopher")
	run("a double submit", chromedp.Evaluate[chromedp.Void](`(document.querySelector("#nick").value = "dbl", document.querySelector("#room").value = "r1",
		document.querySelector("#join-form").requestSubmit(), document.querySelector("#join-form").requestSubmit(), true)`),
		waitText("#status", "Connected to #r1 as dbl"))
	run("dbl leaves", chromedp.Click("#leave"), chromedp.WaitVisible("#join-form"))
	waitWho(t, gopher, "gopher") // no member left behind by the first submit
}

// gapHook lets the test hold back the frames a page's conversation
// receives and hand it frames of its own: the page's side of a Gap.
const gapHook = `(() => {
  const WS = WebSocket;
  window.dropped = 0;
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      window.socket = this;
      this.addEventListener("message", (e) => {
        if (window.drop && !e.injected) { window.dropped++; e.stopImmediatePropagation(); }
      });
    }
  };
  // mp encodes a map of strings and small integers as msgpack.
  const mp = (o) => {
    const out = [0x80 + Object.keys(o).length];
    const str = (s) => { const b = new TextEncoder().encode(s); out.push(0xa0 + b.length, ...b); };
    for (const [k, v] of Object.entries(o)) {
      str(k);
      if (typeof v === "string") str(v);
      else if (typeof v === "number") out.push(v);
      else { const inner = mp(v); out.push(...inner); }
    }
    return out;
  };
  window.inject = (o) => {
    const p = mp(o);
    const f = new Uint8Array(5 + p.length);
    new DataView(f.buffer).setUint32(1, p.length);
    f.set(p, 5);
    const e = new MessageEvent("message", { data: f.buffer });
    e.injected = true;
    window.socket.dispatchEvent(e);
  };
})()`

// TestPageGap: a member told with a Gap that it missed events says so,
// fetches the missed messages (History) and who is here (Who).
func TestPageGap(t *testing.T) {
	srv, ctx, tab, run := pageTest(t, 2*time.Minute)
	defer srv.stop()
	base := "http://" + srv.addr
	if _, err := chromedp.Call(tab, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: gapHook}); err != nil {
		t.Fatal(err)
	}
	run("ann joins", joinPage(base, "ann", "r5"))
	gopher := join(t, ctx, srv.addr, "r5", "gopher")
	defer gopher.c.Close()
	run("ann sees gopher", waitText("#members", "gopher"))
	run("the page stops reading", chromedp.Evaluate[chromedp.Void](`window.drop = true`))
	for i := 1; i <= 3; i++ {
		gopher.send(&chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: fmt.Sprintf("missed line %d", i)}})
	}
	run("the lines arrive unread", chromedp.Poll[chromedp.Void](`window.dropped >= 3`, chromedp.WithPollingInterval(50*time.Millisecond)))
	if strings.Contains(eval(t, tab, `document.querySelector("#log").textContent`), "missed line") {
		t.Fatal("the test's hook let a line through")
	}
	run("the Gap", chromedp.Evaluate[chromedp.Void](`(window.drop = false, window.inject({gap: {room: "r5", missed: 3, first_seq: 1, last_seq: 3}}), true)`),
		waitText("#log", "You missed 3 messages: fetching them."),
		waitText("#log", "missed line 1"), waitText("#log", "missed line 2"), waitText("#log", "missed line 3"),
		waitText("#log", "Here: ann, gopher."))
	gopher.send(&chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: "after the gap"}})
	run("the conversation goes on", waitText("#log", "after the gap"))
	if n := eval(t, tab, `String(Array.from(document.querySelectorAll("#log li.msg .text"), l => l.textContent).filter(x => x === "missed line 2").length)`); n != "1" {
		t.Errorf("missed line 2 is shown %s times", n)
	}
}

// TestPageBFCache: a page left for another keeps no member in the room,
// even when the browser keeps it in its back/forward cache; coming back
// to it rejoins.
func TestPageBFCache(t *testing.T) {
	srv, ctx, tab, run := pageTest(t, 2*time.Minute)
	defer srv.stop()
	base := "http://" + srv.addr
	hook := `addEventListener("pagehide", (e) => sessionStorage.setItem("persisted", String(e.persisted)))`
	if _, err := chromedp.Call(tab, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: hook}); err != nil {
		t.Fatal(err)
	}
	gopher := join(t, ctx, srv.addr, "r4", "gopher")
	defer gopher.c.Close()
	run("ann joins", joinPage(base, "ann", "r4"))
	waitWho(t, gopher, "ann,gopher")
	run("ann goes to another page", chromedp.Navigate(base+"/style.css"))
	waitWho(t, gopher, "gopher")
	if eval(t, tab, `String(sessionStorage.getItem("persisted"))`) != "true" {
		t.Log("the browser did not keep the page in its back/forward cache: nothing to restore")
		return
	}
	// history.back from a timer rather than chromedp.NavigateBack, which
	// waits for a load that a page restored from the cache does not have
	// (chromedp does not follow the restored page's context either: the
	// rejoin is checked in the room).
	run("ann comes back", chromedp.Evaluate[chromedp.Void](`(setTimeout(() => history.back(), 0), true)`))
	waitWho(t, gopher, "ann,gopher")
}
