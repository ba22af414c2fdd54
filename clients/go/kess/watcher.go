package kess

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// watcher is the machinery ConfigClient and Discovery share: subscribing
// keys and namespaces through the agent, learning new versions through the
// agent's blocking watch (or, while the agent is unreachable or absent, by
// polling the files), keeping each key's last good entry and calling the
// handles with every new one.
//
// One goroutine (loop) does all of it; callbacks run on it, one at a time.
type watcher struct {
	o     Options
	agent *Agent // nil: NoAgent

	// dmu is held through a whole deliver (decisions and callbacks), so
	// that once pollNow returns every version applied so far was delivered,
	// also when the loop goroutine delivered it.
	dmu sync.Mutex

	readErrors atomic.Int64 // files or changes that did not decode
	updates    atomic.Int64 // new good versions applied

	mu         sync.Mutex
	keys       map[Key]*keyState
	namespaces map[string]*nsState
	unsub      Subscription // dropped, to DELETE
	nextHandle uint64
	closed     bool
	epoch      string // of the watch; "" = next call wants a full answer
	index      int64
	gen        uint64 // counts selection changes (see resetWatchLocked)

	wake chan struct{} // the selection or the subscriptions changed
	stop chan struct{}
	done chan struct{}
}

type subState struct {
	subscribed bool
	nextTry    time.Time
	backoff    time.Duration
}

type keyState struct {
	key      Key
	good     *Entry // last good version; nil: none yet
	stamp    fileStamp
	lastErr  error
	loggedAt time.Time
	handles  map[uint64]*handle
	inNS     bool // known through a watched namespace
	explicit bool // watched by its own handles (so subscribed by itself)
	sub      subState
}

type nsState struct {
	handles map[uint64]*handle
	sub     subState
}

type handle struct {
	id      uint64
	cb      func(*Entry)
	stopped atomic.Bool
	// delivered revision per key (a key handle has one entry)
	delivered map[Key]int64
}

type fileStamp struct {
	ino   uint64
	size  int64
	mtime int64
	ok    bool
}

func newWatcher(o Options) (*watcher, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &watcher{
		o:          o,
		keys:       map[Key]*keyState{},
		namespaces: map[string]*nsState{},
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if !o.NoAgent {
		if w.agent, err = NewAgent(o.Agent, o.HTTPTimeout); err != nil {
			return nil, err
		}
	}
	go w.loop()
	return w, nil
}

func (w *watcher) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// WatchHandle stops one watch (Stop). When the last handle of a key or
// namespace stops, the client unsubscribes it at the agent (unless
// Options.KeepSubscriptions); the cache files stay.
type WatchHandle struct {
	w  *watcher
	h  *handle
	k  *Key    // a key watch
	ns *string // a namespace watch
}

// Stop ends the watch: its callback is not called again once a call
// already running (if any) returns. Safe to call more than once, and from
// within the callback.
func (h *WatchHandle) Stop() {
	if h.h.stopped.Swap(true) {
		return
	}
	w := h.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if h.k != nil {
		ks := w.keys[*h.k]
		if ks == nil {
			return
		}
		delete(ks.handles, h.h.id)
		if len(ks.handles) == 0 {
			ks.explicit = false
			if ks.sub.subscribed && !w.o.KeepSubscriptions {
				if ks.key.Kind == KindConfig {
					w.unsub.Configs = append(w.unsub.Configs, ConfigName{ks.key.Namespace, ks.key.Key})
				} else {
					w.unsub.Routes = append(w.unsub.Routes, ks.key.Service)
				}
			}
			ks.sub = subState{}
			if !ks.inNS {
				delete(w.keys, ks.key)
			}
		}
	} else if h.ns != nil {
		n := w.namespaces[*h.ns]
		if n == nil {
			return
		}
		delete(n.handles, h.h.id)
		if len(n.handles) == 0 {
			if n.sub.subscribed && !w.o.KeepSubscriptions {
				w.unsub.Namespaces = append(w.unsub.Namespaces, *h.ns)
			}
			delete(w.namespaces, *h.ns)
			for k, ks := range w.keys {
				if ks.inNS && k.Namespace == *h.ns && k.Kind == KindConfig {
					ks.inNS = false
					if !ks.explicit {
						delete(w.keys, k)
					}
				}
			}
		}
	}
	w.resetWatchLocked() // the selection changed
	w.poke()
}

// watchKey starts watching one key: it is read at once (so get answers),
// subscribed by the loop, and cb gets its current version and every newer
// one on the loop goroutine.
func (w *watcher) watchKey(key Key, cb func(*Entry)) (*WatchHandle, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	entry, stamp, err := w.readFile(key)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, errors.New("kess: client is closed")
	}
	ks := w.keys[key]
	if ks == nil {
		ks = &keyState{key: key}
		w.keys[key] = ks
	}
	if !ks.explicit {
		ks.explicit = true
		ks.sub = subState{}
		w.resetWatchLocked()
	}
	w.applyLocked(ks, entry, stamp, err)
	w.nextHandle++
	h := &handle{id: w.nextHandle, cb: cb, delivered: map[Key]int64{}}
	if ks.handles == nil {
		ks.handles = map[uint64]*handle{}
	}
	ks.handles[h.id] = h
	w.poke()
	k := key
	return &WatchHandle{w: w, h: h, k: &k}, nil
}

// watchNamespace starts watching every config key of a namespace, also
// keys created later.
func (w *watcher) watchNamespace(ns string, cb func(*Entry)) (*WatchHandle, error) {
	if err := ValidateName("namespace", ns); err != nil {
		return nil, err
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, errors.New("kess: client is closed")
	}
	n := w.namespaces[ns]
	if n == nil {
		n = &nsState{handles: map[uint64]*handle{}}
		w.namespaces[ns] = n
		w.resetWatchLocked()
	}
	w.nextHandle++
	h := &handle{id: w.nextHandle, cb: cb, delivered: map[Key]int64{}}
	n.handles[h.id] = h
	w.mu.Unlock()
	w.pollNamespace(ns)
	w.poke()
	name := ns
	return &WatchHandle{w: w, h: h, ns: &name}, nil
}

// get returns the last good entry of a watched key, or reads an unwatched
// one now.
func (w *watcher) get(key Key) (*Entry, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	w.mu.Lock()
	if ks := w.keys[key]; ks != nil {
		defer w.mu.Unlock()
		if ks.good != nil {
			return ks.good, nil
		}
		if ks.lastErr != nil && !errors.Is(ks.lastErr, fs.ErrNotExist) {
			return nil, ks.lastErr
		}
		return nil, fmt.Errorf("kess: %w: no %s in the cache %s", ErrNotFound, key, w.o.CacheDir)
	}
	w.mu.Unlock()
	e, err := ReadEntry(w.o.CacheDir, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("kess: %w: no %s in the cache %s", ErrNotFound, key, w.o.CacheDir)
	}
	return e, err
}

func (w *watcher) readFile(key Key) (*Entry, fileStamp, error) {
	path := filepath.Join(w.o.CacheDir, key.RelativePath())
	stamp := statFile(path)
	e, err := ReadEntry(w.o.CacheDir, key)
	return e, stamp, err
}

func statFile(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ok: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = uint64(st.Ino)
	}
	return s
}

// applyLocked takes a read result: a good entry newer than the last good
// one replaces it; anything else keeps it (and an error is counted and
// logged at most every 10 s per key). REQUIRES: w.mu held.
func (w *watcher) applyLocked(ks *keyState, e *Entry, stamp fileStamp, err error) {
	ks.stamp = stamp
	if err != nil {
		ks.lastErr = err
		if errors.Is(err, fs.ErrNotExist) {
			return // not fetched yet (or never existed): nothing to count
		}
		w.readErrors.Add(1)
		if now := time.Now(); now.Sub(ks.loggedAt) >= 10*time.Second {
			ks.loggedAt = now
			w.o.Logger.Printf("kess: %s: %v (keeping the last good version)", ks.key, err)
		}
		return
	}
	w.applyEntryLocked(ks, e)
}

func (w *watcher) applyEntryLocked(ks *keyState, e *Entry) {
	if e.Key != ks.key {
		return
	}
	ks.lastErr = nil
	if ks.good != nil && e.Revision <= ks.good.Revision {
		return // revisions only increase: never an older or equal one
	}
	ks.good = e
	w.updates.Add(1)
}

// deliver calls every handle that has not seen its keys' newest good
// versions yet. On the loop goroutine (or PollNow's caller).
func (w *watcher) deliver() {
	type call struct {
		h *handle
		e *Entry
	}
	var calls []call
	w.dmu.Lock()
	defer w.dmu.Unlock()
	w.mu.Lock()
	keys := make([]Key, 0, len(w.keys))
	for k := range w.keys {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
	for _, k := range keys {
		ks := w.keys[k]
		if ks.good == nil {
			continue
		}
		for _, h := range sortedHandles(ks.handles) {
			if h.delivered[k] < ks.good.Revision {
				h.delivered[k] = ks.good.Revision
				calls = append(calls, call{h, ks.good})
			}
		}
		if ks.inNS {
			if n := w.namespaces[k.Namespace]; n != nil {
				for _, h := range sortedHandles(n.handles) {
					if h.delivered[k] < ks.good.Revision {
						h.delivered[k] = ks.good.Revision
						calls = append(calls, call{h, ks.good})
					}
				}
			}
		}
	}
	w.mu.Unlock()
	for _, c := range calls {
		if !c.h.stopped.Load() {
			c.h.cb(c.e)
		}
	}
}

func sortedHandles(m map[uint64]*handle) []*handle {
	hs := make([]*handle, 0, len(m))
	for _, h := range m {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(a, b int) bool { return hs[a].id < hs[b].id })
	return hs
}

// pollFiles stats every watched file and re-reads those that changed, and
// lists every watched namespace's directory for new keys.
func (w *watcher) pollFiles() {
	w.mu.Lock()
	var keys []Key
	for k := range w.keys {
		keys = append(keys, k)
	}
	var nss []string
	for ns := range w.namespaces {
		nss = append(nss, ns)
	}
	w.mu.Unlock()
	for _, ns := range nss {
		w.pollNamespace(ns)
	}
	for _, k := range keys {
		path := filepath.Join(w.o.CacheDir, k.RelativePath())
		stamp := statFile(path)
		w.mu.Lock()
		ks := w.keys[k]
		same := ks == nil || (stamp == ks.stamp && stamp.ok)
		w.mu.Unlock()
		if same {
			continue
		}
		e, _, err := w.readFile(k)
		w.mu.Lock()
		if ks := w.keys[k]; ks != nil {
			w.applyLocked(ks, e, stamp, err)
		}
		w.mu.Unlock()
	}
}

// pollNamespace adds the keys found in configs/<ns>/ (names that start
// with "." are writes in progress: ignored).
func (w *watcher) pollNamespace(ns string) {
	dir := filepath.Join(w.o.CacheDir, "configs", ns)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var fresh []Key
	w.mu.Lock()
	if w.namespaces[ns] == nil {
		w.mu.Unlock()
		return
	}
	for _, d := range entries {
		name := d.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") || d.IsDir() {
			continue
		}
		k := ConfigKey(ns, strings.TrimSuffix(name, ".json"))
		if k.Validate() != nil {
			continue
		}
		ks := w.keys[k]
		if ks == nil {
			ks = &keyState{key: k}
			w.keys[k] = ks
			fresh = append(fresh, k)
		}
		ks.inNS = true
	}
	w.mu.Unlock()
	for _, k := range fresh {
		e, stamp, err := w.readFile(k)
		w.mu.Lock()
		if ks := w.keys[k]; ks != nil {
			w.applyLocked(ks, e, stamp, err)
		}
		w.mu.Unlock()
	}
}

// pollNow polls every file on the calling goroutine and delivers.
func (w *watcher) pollNow() {
	w.pollFiles()
	w.deliver()
}

// subscribePending sends one POST with everything due; returns when the
// next retry is due (zero: nothing pending).
func (w *watcher) subscribePending(ctx context.Context) time.Time {
	if w.agent == nil {
		return time.Time{}
	}
	now := time.Now()
	var s Subscription
	var next time.Time
	consider := func(st *subState) bool {
		if st.subscribed {
			return false
		}
		if st.nextTry.After(now) {
			if next.IsZero() || st.nextTry.Before(next) {
				next = st.nextTry
			}
			return false
		}
		return true
	}
	w.mu.Lock()
	for _, ks := range w.keys {
		if ks.explicit && consider(&ks.sub) {
			if ks.key.Kind == KindConfig {
				s.Configs = append(s.Configs, ConfigName{ks.key.Namespace, ks.key.Key})
			} else {
				s.Routes = append(s.Routes, ks.key.Service)
			}
		}
	}
	for ns, n := range w.namespaces {
		if consider(&n.sub) {
			s.Namespaces = append(s.Namespaces, ns)
		}
	}
	unsub := w.unsub
	w.unsub = Subscription{}
	w.mu.Unlock()
	if !unsub.empty() {
		if err := w.agent.Unsubscribe(ctx, w.o.Owner, unsub); err != nil && ctx.Err() == nil {
			w.o.Logger.Printf("kess: unsubscribing at the agent: %v (not retried)", err)
		}
	}
	if s.empty() {
		return next
	}
	_, err := w.agent.Subscribe(ctx, w.o.Owner, s)
	w.mu.Lock()
	defer w.mu.Unlock()
	// The states as they are now: a watch may have stopped meanwhile.
	var states []*subState
	gone := Subscription{}
	for _, c := range s.Configs {
		if ks := w.keys[ConfigKey(c.Namespace, c.Key)]; ks != nil && ks.explicit {
			states = append(states, &ks.sub)
		} else {
			gone.Configs = append(gone.Configs, c)
		}
	}
	for _, r := range s.Routes {
		if ks := w.keys[RouteKey(r)]; ks != nil && ks.explicit {
			states = append(states, &ks.sub)
		} else {
			gone.Routes = append(gone.Routes, r)
		}
	}
	for _, ns := range s.Namespaces {
		if n := w.namespaces[ns]; n != nil {
			states = append(states, &n.sub)
		} else {
			gone.Namespaces = append(gone.Namespaces, ns)
		}
	}
	if err == nil && !w.o.KeepSubscriptions {
		// Stopped while the POST ran: unsubscribe on the next round.
		w.unsub.Configs = append(w.unsub.Configs, gone.Configs...)
		w.unsub.Routes = append(w.unsub.Routes, gone.Routes...)
		w.unsub.Namespaces = append(w.unsub.Namespaces, gone.Namespaces...)
		if !gone.empty() {
			w.poke()
		}
	}
	for _, st := range states {
		if err == nil {
			st.subscribed = true
			continue
		}
		if st.backoff == 0 {
			st.backoff = w.o.SubscribeRetryInitial
		} else if st.backoff *= 2; st.backoff > w.o.SubscribeRetryMax {
			st.backoff = w.o.SubscribeRetryMax
		}
		st.nextTry = now.Add(st.backoff)
		if next.IsZero() || st.nextTry.Before(next) {
			next = st.nextTry
		}
	}
	if err == nil {
		w.resetWatchLocked() // the files may be new: a full answer
	}
	return next
}

// resetWatchLocked makes the next watch call ask for a full answer, and
// an answer to a call already running not be continued from.
func (w *watcher) resetWatchLocked() {
	w.epoch, w.index = "", 0
	w.gen++
}

// selection is what the watch asks for, and the generation it belongs to.
func (w *watcher) selection() (WatchRequest, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var r WatchRequest
	for k, ks := range w.keys {
		if !ks.explicit {
			continue
		}
		if k.Kind == KindConfig {
			if w.namespaces[k.Namespace] == nil {
				r.Configs = append(r.Configs, ConfigName{k.Namespace, k.Key})
			}
		} else {
			r.Services = append(r.Services, k.Service)
		}
	}
	for ns := range w.namespaces {
		r.Namespaces = append(r.Namespaces, ns)
	}
	r.Epoch, r.Index = w.epoch, w.index
	return r, w.gen
}

// applyWatch applies one watch answer; its epoch and index are kept only
// if the selection did not change while the call ran.
func (w *watcher) applyWatch(gen uint64, a *WatchAnswer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, err := range a.Garbled {
		w.readErrors.Add(1)
		w.o.Logger.Printf("kess: a change from the agent's watch: %v (keeping the last good version)", err)
	}
	for _, e := range a.Changes {
		ks := w.keys[e.Key]
		if ks == nil && e.Key.Kind == KindConfig && w.namespaces[e.Key.Namespace] != nil {
			ks = &keyState{key: e.Key, inNS: true}
			w.keys[e.Key] = ks
		}
		if ks == nil {
			continue
		}
		w.applyEntryLocked(ks, e)
	}
	if w.gen == gen {
		w.epoch, w.index = a.Epoch, a.Index
	}
}

// maxWatchSelection is the most configs, namespaces and services one
// GET /v1/watch may name.
const maxWatchSelection = 1000

func (w *watcher) loop() {
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-w.stop
		cancel()
	}()
	var watchRetryAt time.Time
	for ctx.Err() == nil {
		nextSub := w.subscribePending(ctx)
		req, gen := w.selection()
		n := len(req.Configs) + len(req.Namespaces) + len(req.Services)
		// The agent takes at most maxWatchSelection entries per watch; more
		// are polled.
		if w.agent == nil || n == 0 || n > maxWatchSelection || time.Now().Before(watchRetryAt) {
			w.pollFiles()
			w.deliver()
			wait := w.o.PollInterval
			if w.agent != nil && !watchRetryAt.IsZero() {
				if d := time.Until(watchRetryAt); d < wait {
					wait = d
				}
			}
			if !nextSub.IsZero() {
				if d := time.Until(nextSub); d < wait {
					wait = d
				}
			}
			w.sleep(ctx, wait)
			continue
		}
		timeout := w.o.WatchTimeout
		if !nextSub.IsZero() {
			if d := time.Until(nextSub); d < timeout {
				timeout = d
			}
		}
		if timeout < 100*time.Millisecond { // a subscription retry is due
			timeout = 100 * time.Millisecond
		}
		req.Timeout = timeout
		callCtx, callCancel := context.WithCancel(ctx)
		stopWake := make(chan struct{})
		go func() { // a changed selection ends the call
			select {
			case <-w.wake:
				callCancel()
			case <-stopWake:
			}
		}()
		a, err := w.agent.Watch(callCtx, req)
		close(stopWake)
		woken := callCtx.Err() != nil && ctx.Err() == nil
		callCancel()
		if woken {
			continue // the selection changed: call again with the new one
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// Unreachable (or refusing): poll the files, try again in a second
			// from a full answer.
			w.mu.Lock()
			w.resetWatchLocked()
			w.mu.Unlock()
			watchRetryAt = time.Now().Add(time.Second)
			continue
		}
		watchRetryAt = time.Time{}
		w.applyWatch(gen, a)
		w.deliver()
	}
}

func (w *watcher) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.wake:
	case <-t.C:
	}
}

// close stops the loop and, unless KeepSubscriptions, unsubscribes
// everything this client holds at the agent.
func (w *watcher) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	unsub := w.unsub
	for _, ks := range w.keys {
		if ks.explicit && ks.sub.subscribed {
			if ks.key.Kind == KindConfig {
				unsub.Configs = append(unsub.Configs, ConfigName{ks.key.Namespace, ks.key.Key})
			} else {
				unsub.Routes = append(unsub.Routes, ks.key.Service)
			}
		}
	}
	for ns, n := range w.namespaces {
		if n.sub.subscribed {
			unsub.Namespaces = append(unsub.Namespaces, ns)
		}
	}
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	if w.agent == nil {
		return nil
	}
	defer w.agent.Close()
	if w.o.KeepSubscriptions || unsub.empty() {
		return nil
	}
	return w.agent.Unsubscribe(context.Background(), w.o.Owner, unsub)
}
