package kess

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DiscoveryOptions configure a Discovery. The zero value means every
// default (weighted_random, no local datacenter).
type DiscoveryOptions struct {
	Options
	// Balancer is the default balancer of Select: a registered name;
	// default "weighted_random".
	Balancer string
	// LocalDatacenter, MinLocalHealthy (default 1) and LocalFirstInner
	// (default "weighted_random") configure local_first.
	LocalDatacenter string
	MinLocalHealthy int
	LocalFirstInner string
	// Failover: the caller-side failure tracking; zero fields take
	// DefaultFailoverOptions' values.
	Failover FailoverOptions
	// NowMs is the clock of failover, in milliseconds; default a
	// monotonic clock. Tests pass a manual one.
	NowMs func() int64
}

// Discovery is the consumer side of service discovery, like the C++ SDK's:
// it reads services' route tables from the agent's file cache (subscribing
// each through the agent on first use and watching it), and picks instances
// for calls with a balancer, failing over away from instances the caller
// reports as failing.
//
// Who is picked: healthy instances; suspect ones only when no healthy one
// is available; disabled ones never. Ejected instances are skipped; when
// every healthy and suspect instance is ejected, the least recently ejected
// one is returned. A missing, garbled or invalid table file (or one of
// another service) keeps the last good table. A deleted service (a
// tombstone) has no instances.
//
// All methods are safe for concurrent use; Select takes no lock.
type Discovery struct {
	o        DiscoveryOptions
	w        *watcher
	def      Balancer
	mu       sync.Mutex
	services atomic.Pointer[map[string]*service] // copied on write under mu
	balances map[string]Balancer
	bopts    BalancerOptions
}

type service struct {
	name    string
	cbMu    sync.Mutex // held while Watch callbacks run
	mu      sync.Mutex
	snap    *Snapshot
	rev     int64
	applied bool
	tracker *FailureTracker
	view    atomic.Pointer[view]
	handle  *WatchHandle
	watches []*discoveryWatch
}

type view struct {
	snap  *Snapshot
	avail *Availability
}

type discoveryWatch struct {
	cb        func(*RouteTable)
	stopped   atomic.Bool
	delivered bool  // guarded by service.mu
	lastRev   int64 // guarded by service.mu
}

// ErrWrongService is wrapped when a service's route file holds the table
// of another service.
var ErrWrongService = errors.New("route table of another service")

// RouteTableOf is the table a good cache entry of service's route file
// holds, as Discovery takes it: a tombstone is an empty table; otherwise
// the value must be a valid table (ErrInvalidTable) of this service
// (ErrWrongService). The table's revision is the entry's.
func RouteTableOf(service string, e *Entry) (*RouteTable, error) {
	if e.Absent {
		return &RouteTable{Service: service, Revision: e.Revision}, nil
	}
	t, err := ParseRouteTable(e.Value)
	if err != nil {
		return nil, err
	}
	if t.Service != service {
		return nil, fmt.Errorf("kess: %w: the file of %s holds the table of %q", ErrWrongService, service, t.Service)
	}
	t.Revision = e.Revision
	return t, nil
}

// NewDiscovery starts a Discovery. It fails for an unknown balancer,
// local_first without LocalDatacenter, or bad failover options.
func NewDiscovery(o DiscoveryOptions) (*Discovery, error) {
	d := DefaultFailoverOptions()
	if o.Failover.InitialEjection == 0 {
		o.Failover.InitialEjection = d.InitialEjection
	}
	if o.Failover.MaxEjection == 0 {
		o.Failover.MaxEjection = d.MaxEjection
	}
	if o.Failover.RecoveringWeight == 0 {
		o.Failover.RecoveringWeight = d.RecoveringWeight
	}
	if o.Failover.SuccessesToReset == 0 {
		o.Failover.SuccessesToReset = d.SuccessesToReset
	}
	if o.Failover.ForgetAfter == 0 {
		o.Failover.ForgetAfter = d.ForgetAfter
	}
	f := o.Failover
	if f.InitialEjection <= 0 || f.MaxEjection < f.InitialEjection || !(f.RecoveringWeight > 0 && f.RecoveringWeight <= 1) {
		return nil, errors.New("kess: failover: need 0 < InitialEjection <= MaxEjection and 0 < RecoveringWeight <= 1")
	}
	if o.Balancer == "" {
		o.Balancer = "weighted_random"
	}
	if o.MinLocalHealthy == 0 {
		o.MinLocalHealthy = 1
	}
	if o.LocalFirstInner == "" {
		o.LocalFirstInner = "weighted_random"
	}
	if o.NowMs == nil {
		start := time.Now()
		o.NowMs = func() int64 { return int64(time.Since(start)/time.Millisecond) + 1 }
	}
	disc := &Discovery{
		o:        o,
		balances: map[string]Balancer{},
		bopts: BalancerOptions{LocalDatacenter: o.LocalDatacenter, MinLocalHealthy: o.MinLocalHealthy,
			LocalFirstInner: o.LocalFirstInner},
	}
	empty := map[string]*service{}
	disc.services.Store(&empty)
	b, err := disc.Balancer(o.Balancer)
	if err != nil {
		return nil, fmt.Errorf("kess: balancer: %w", err)
	}
	disc.def = b
	if disc.w, err = newWatcher(o.Options); err != nil {
		return nil, err
	}
	return disc, nil
}

// Balancer returns a balancer of a registered strategy configured with
// this Discovery's options (made once per name).
func (d *Discovery) Balancer(name string) (Balancer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if b := d.balances[name]; b != nil {
		return b, nil
	}
	b, err := NewBalancer(name, d.bopts)
	if err != nil {
		return nil, err
	}
	d.balances[name] = b
	return b, nil
}

// track returns the tracked service, starting to track it on first use:
// subscribed and watched through the agent, its file read at once.
func (d *Discovery) track(name string) (*service, error) {
	if s := (*d.services.Load())[name]; s != nil {
		return s, nil
	}
	if err := ValidateName("service", name); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := *d.services.Load()
	if s := old[name]; s != nil {
		return s, nil
	}
	s := &service{name: name, tracker: NewFailureTracker(d.o.Failover)}
	s.view.Store(&view{})
	h, err := d.w.watchKey(RouteKey(name), func(e *Entry) { d.apply(s, e) })
	if err != nil {
		return nil, err
	}
	s.handle = h
	if e, err := d.w.get(RouteKey(name)); err == nil {
		d.apply(s, e)
	}
	services := make(map[string]*service, len(old)+1)
	for k, v := range old {
		services[k] = v
	}
	services[name] = s
	d.services.Store(&services)
	return s, nil
}

// apply takes a new cache entry of the service's table if it is newer and
// valid, and tells the watches.
func (d *Discovery) apply(s *service, e *Entry) {
	s.mu.Lock()
	if e.Revision < s.rev || (e.Revision == s.rev && s.applied) {
		s.mu.Unlock()
		d.notify(s)
		return
	}
	t, err := RouteTableOf(s.name, e)
	if err != nil {
		s.mu.Unlock()
		d.w.readErrors.Add(1)
		d.w.o.Logger.Printf("kess: route table of %s at revision %d is invalid; keeping the last good one (revision %d): %v",
			s.name, e.Revision, s.rev, err)
		return
	}
	s.rev, s.applied = e.Revision, true
	s.snap = NewSnapshot(t)
	d.publishLocked(s)
	s.mu.Unlock()
	d.notify(s)
}

func (d *Discovery) publishLocked(s *service) {
	v := &view{snap: s.snap}
	if v.snap != nil {
		v.avail = s.tracker.Build(v.snap, d.o.NowMs())
	}
	s.view.Store(v)
}

func (d *Discovery) notify(s *service) {
	s.cbMu.Lock() // one callback at a time, versions in order
	defer s.cbMu.Unlock()
	s.mu.Lock()
	snap := s.snap
	var calls []*discoveryWatch
	for _, w := range s.watches {
		if snap != nil && !w.stopped.Load() && (!w.delivered || snap.table.Revision > w.lastRev) {
			w.delivered, w.lastRev = true, snap.table.Revision
			calls = append(calls, w)
		}
	}
	s.mu.Unlock()
	for _, w := range calls {
		if !w.stopped.Load() {
			w.cb(snap.table)
		}
	}
}

// Select picks one instance of service for a call with the default
// balancer; key is the request key for key-affine balancers (may be "").
// Errors wrap ErrNotFound (no table in the cache yet, or no healthy or
// suspect instance) or ErrInvalidName.
func (d *Discovery) Select(service, key string) (*RouteInstance, error) {
	return d.SelectWith(service, key, d.def, nil)
}

// SelectWith picks with another balancer (see Balancer), and a seeded
// random source (nil: a pooled one).
func (d *Discovery) SelectWith(service, key string, b Balancer, random *Random) (*RouteInstance, error) {
	s, err := d.track(service)
	if err != nil {
		return nil, err
	}
	v := s.view.Load()
	if v.snap == nil {
		return nil, fmt.Errorf("kess: %w: no route table for service %s in the cache yet", ErrNotFound, service)
	}
	var now int64
	if v.avail != nil {
		now = d.o.NowMs()
	}
	return SelectInstance(b, v.snap, v.avail, key, now, random)
}

// ReportFailure records a failed call to an instance (by id): it is ejected
// with exponential backoff (see FailureTracker). Invalid service names are
// ignored.
func (d *Discovery) ReportFailure(service, instanceID string) { d.report(service, instanceID, true) }

// ReportSuccess records a successful call to an instance.
func (d *Discovery) ReportSuccess(service, instanceID string) { d.report(service, instanceID, false) }

func (d *Discovery) report(name, id string, failure bool) {
	s, err := d.track(name)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := d.o.NowMs()
	var changed bool
	if failure {
		changed = s.tracker.ReportFailure(id, now)
	} else {
		changed = s.tracker.ReportSuccess(id, now)
	}
	if changed {
		d.publishLocked(s)
	}
}

// Failures is the number of consecutive failures on record for an instance.
func (d *Discovery) Failures(service, instanceID string) int {
	s, err := d.track(service)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracker.Failures(instanceID)
}

// Table returns the last good route table of service (errors wrap
// ErrNotFound when there is none yet). The table must not be modified.
func (d *Discovery) Table(service string) (*RouteTable, error) {
	s, err := d.track(service)
	if err != nil {
		return nil, err
	}
	if v := s.view.Load(); v.snap != nil {
		return v.snap.table, nil
	}
	return nil, fmt.Errorf("kess: %w: no route table for service %s in the cache yet", ErrNotFound, service)
}

// DiscoveryWatch stops a Discovery.Watch.
type DiscoveryWatch struct{ w *discoveryWatch }

// Stop ends the watch (a call already running finishes).
func (h *DiscoveryWatch) Stop() { h.w.stopped.Store(true) }

// Watch calls cb with the current table (if any) and every newer good
// version, each once, in revision order, on the client's goroutine.
func (d *Discovery) Watch(service string, cb func(*RouteTable)) (*DiscoveryWatch, error) {
	s, err := d.track(service)
	if err != nil {
		return nil, err
	}
	w := &discoveryWatch{cb: cb}
	s.mu.Lock()
	s.watches = append(s.watches, w)
	s.mu.Unlock()
	d.w.poke()
	go d.notify(s) // the current table, off the caller's goroutine
	return &DiscoveryWatch{w}, nil
}

// Owner is this client's owner id at the agent.
func (d *Discovery) Owner() string { return d.w.o.Owner }

// ReadErrors counts the table files and watch changes that did not decode
// or held an invalid table; the last good table was kept each time.
func (d *Discovery) ReadErrors() int64 { return d.w.readErrors.Load() }

// PollNow checks every tracked file on the calling goroutine.
func (d *Discovery) PollNow() { d.w.pollNow() }

// Close stops the client and unsubscribes its services at the agent
// (unless Options.KeepSubscriptions).
func (d *Discovery) Close() error { return d.w.close() }
