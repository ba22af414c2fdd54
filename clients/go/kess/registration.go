package kess

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"sync"
	"time"
)

// RegistrationOptions describe an instance to register through the host's
// agent (docs/agent-api.md).
type RegistrationOptions struct {
	// Agent is the agent's API ("http://host:port", "host:port" or
	// "unix:///path/agent.sock"); default DefaultAgent.
	Agent   string
	Service string
	ID      string
	// Address is the host:port consumers call.
	Address  string
	Weight   int // 1..10000; 0: the agent's default (100)
	Metadata map[string]string
	// Owner guards the instance against another deployment's PUT or DELETE;
	// default the instance id.
	Owner  string
	Checks []Check
	// HeartbeatEvery is how often TTL checks are renewed; default a third
	// of the shortest TTL.
	HeartbeatEvery time.Duration
	HTTPTimeout    time.Duration // default 5 s
	Logger         *log.Logger   // default log.Default()
}

// Registration is an instance registered through the agent. A goroutine
// renews its TTL checks (PUT /v1/checks/<id>/pass, or the status set with
// SetTTLStatus) and registers it again when the agent answers 404 (an agent
// that lost it). Close deregisters it. Safe for concurrent use.
type Registration struct {
	o     RegistrationOptions
	agent *Agent
	spec  InstanceSpec
	ttl   []string // ids of the TTL checks

	mu     sync.Mutex
	status string // "pass", "warn" or "fail"
	output string

	beats     int64 // TTL renewals that succeeded (under mu)
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Register registers the instance (PUT /v1/services/<svc>/instances/<id>),
// reports its TTL checks passing and starts renewing them. TTL checks
// without an ID get "<id>-ttl-<n>". The error is the agent's refusal (an
// *AgentError, e.g. 400 for an invalid instance or 409 for another owner)
// or an unreachable agent.
func Register(ctx context.Context, o RegistrationOptions) (*Registration, error) {
	if o.Agent == "" {
		o.Agent = DefaultAgent
	}
	if o.Owner == "" {
		o.Owner = o.ID
	}
	if o.Logger == nil {
		o.Logger = log.Default()
	}
	agent, err := NewAgent(o.Agent, o.HTTPTimeout)
	if err != nil {
		return nil, err
	}
	r := &Registration{o: o, agent: agent, status: "pass",
		stop: make(chan struct{}), done: make(chan struct{})}
	var shortest time.Duration
	checks := append([]Check(nil), o.Checks...)
	for i := range checks {
		if checks[i].Kind != "ttl" {
			continue
		}
		if checks[i].TTL <= 0 {
			return nil, fmt.Errorf("kess: TTL check %d has no TTL", i+1)
		}
		if checks[i].ID == "" {
			checks[i].ID = fmt.Sprintf("%s-ttl-%d", o.ID, len(r.ttl)+1)
		}
		r.ttl = append(r.ttl, checks[i].ID)
		if shortest == 0 || checks[i].TTL < shortest {
			shortest = checks[i].TTL
		}
	}
	r.spec = InstanceSpec{Service: o.Service, ID: o.ID, Address: o.Address, Weight: o.Weight,
		Metadata: o.Metadata, Owner: o.Owner, Checks: checks}
	if err := agent.PutInstance(ctx, r.spec); err != nil {
		return nil, fmt.Errorf("kess: registering %s/%s: %w", o.Service, o.ID, err)
	}
	if err := r.renew(ctx); err != nil {
		o.Logger.Printf("kess: %s/%s: first TTL report: %v", o.Service, o.ID, err)
	}
	every := o.HeartbeatEvery
	if every <= 0 {
		every = shortest / 3
	}
	if len(r.ttl) == 0 {
		close(r.done)
		return r, nil
	}
	if every < 100*time.Millisecond {
		every = 100 * time.Millisecond
	}
	go r.loop(every)
	return r, nil
}

// SetTTLStatus sets what the TTL checks report from now on: "pass", "warn"
// or "fail", with an output; it is sent at once and with every renewal.
func (r *Registration) SetTTLStatus(ctx context.Context, status, output string) error {
	switch status {
	case "pass", "warn", "fail":
	default:
		return fmt.Errorf("kess: TTL status %q is not pass, warn or fail", status)
	}
	r.mu.Lock()
	r.status, r.output = status, output
	r.mu.Unlock()
	return r.renew(ctx)
}

// Renewals is how many TTL reports the agent accepted so far.
func (r *Registration) Renewals() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.beats
}

// renew reports every TTL check; an agent that lost the instance (404)
// gets it registered again.
func (r *Registration) renew(ctx context.Context) error {
	r.mu.Lock()
	status, output := r.status, r.output
	r.mu.Unlock()
	var errs []error
	for _, id := range r.ttl {
		err := r.agent.UpdateTTL(ctx, id, status, r.o.Owner, output)
		if IsAgentStatus(err, http.StatusNotFound) {
			if perr := r.agent.PutInstance(ctx, r.spec); perr != nil {
				errs = append(errs, fmt.Errorf("registering again: %w", perr))
				continue
			}
			r.o.Logger.Printf("kess: %s/%s: the agent had lost it; registered again", r.o.Service, r.o.ID)
			err = r.agent.UpdateTTL(ctx, id, status, r.o.Owner, output)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.mu.Lock()
		r.beats++
		r.mu.Unlock()
	}
	if len(errs) == 0 {
		return nil
	}
	if len(errs) > 1 {
		return fmt.Errorf("%w (and %d more TTL reports failed)", errs[0], len(errs)-1)
	}
	return errs[0]
}

func (r *Registration) loop(every time.Duration) {
	defer close(r.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every+5*time.Second)
		go func() { // Close does not wait for a slow agent
			select {
			case <-r.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := r.renew(ctx); err != nil && ctx.Err() == nil {
			r.o.Logger.Printf("kess: %s/%s: renewing TTL checks: %v", r.o.Service, r.o.ID, err)
		}
		cancel()
	}
}

// Close stops renewing and deregisters the instance
// (DELETE /v1/services/<svc>/instances/<id>?owner=...). Later calls return
// the first one's result.
func (r *Registration) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.done
		r.closeErr = r.agent.DeleteInstance(ctx, r.o.Service, r.o.ID, r.o.Owner)
		r.agent.Close()
		if r.closeErr != nil {
			r.closeErr = fmt.Errorf("kess: deregistering %s/%s: %w", r.o.Service, r.o.ID, r.closeErr)
		}
	})
	return r.closeErr
}
