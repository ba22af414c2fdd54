package kess

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AgentError is a non-2xx answer of the agent: its HTTP status and the
// {"error":{"code","message"}} it carried.
type AgentError struct {
	Status  int
	Code    string
	Message string
}

func (e *AgentError) Error() string {
	return fmt.Sprintf("kess agent: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// IsAgentStatus says whether err is an AgentError with this HTTP status.
func IsAgentStatus(err error, status int) bool {
	var a *AgentError
	return errors.As(err, &a) && a.Status == status
}

// Agent talks to the host's kess agent over its local HTTP API
// (docs/agent-api.md), over TCP or its unix socket. Safe for concurrent use.
type Agent struct {
	base   string // scheme://host[:port], what requests are sent to
	where  string // for error messages
	client *http.Client
	// clientTimeout bounds every call but the watch.
	clientTimeout time.Duration
}

// NewAgent returns a client of the agent at address:
//
//	"http://127.0.0.1:7310" or "127.0.0.1:7310"   TCP
//	"unix:///run/kess/agent.sock" or "unix:/run/kess/agent.sock"
//	                                               the agent's --api_socket
//
// Requests over the socket carry Host: localhost. timeout bounds every call
// but the blocking watch (which waits its own timeout plus a margin); 0
// means 5 s.
func NewAgent(address string, timeout time.Duration) (*Agent, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	a := &Agent{where: address}
	transport := &http.Transport{
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     60 * time.Second,
		Proxy:               nil, // loopback only: never a proxy
	}
	switch {
	case strings.HasPrefix(address, "unix:"):
		path := strings.TrimPrefix(strings.TrimPrefix(address, "unix:"), "//")
		if path == "" {
			return nil, fmt.Errorf("kess: agent address %q names no socket", address)
		}
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		a.base = "http://localhost"
	case strings.HasPrefix(address, "http://"):
		u, err := url.Parse(address)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("kess: agent address %q: not http://host:port", address)
		}
		a.base = "http://" + u.Host
	case strings.Contains(address, "://"):
		return nil, fmt.Errorf("kess: agent address %q: only http:// and unix:// are served", address)
	default:
		if _, _, err := net.SplitHostPort(address); err != nil {
			return nil, fmt.Errorf("kess: agent address %q: %w", address, err)
		}
		a.base = "http://" + address
	}
	a.client = &http.Client{Transport: transport, Timeout: 0}
	a.clientTimeout = timeout
	return a, nil
}

// Close closes the Agent's idle connections (calls still running finish).
func (a *Agent) Close() { a.client.CloseIdleConnections() }

// Address is the address the Agent was made with.
func (a *Agent) Address() string { return a.where }

// call sends one request and decodes a 2xx JSON answer into out (if not
// nil). A non-2xx answer is an *AgentError.
func (a *Agent) call(ctx context.Context, method, path string, header http.Header, body, out interface{}, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = a.clientTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("kess: encoding %s %s: %w", method, path, err)
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, reader)
	if err != nil {
		return fmt.Errorf("kess: %s %s: %w", method, path, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("kess: %s %s at agent %s: %w", method, path, a.where, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("kess: %s %s at agent %s: reading the answer: %w", method, path, a.where, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &AgentError{Status: resp.StatusCode, Message: strings.TrimSpace(string(data))}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			ae.Code, ae.Message = e.Error.Code, e.Error.Message
		}
		return fmt.Errorf("%s %s: %w", method, path, ae)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("kess: %s %s: the agent's answer is not JSON: %w", method, path, err)
		}
	}
	return nil
}

// ConfigName names one config.
type ConfigName struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
}

// Subscription is what POST and DELETE /v1/subscriptions name.
type Subscription struct {
	Configs    []ConfigName `json:"configs,omitempty"`
	Namespaces []string     `json:"namespaces,omitempty"`
	Routes     []string     `json:"routes,omitempty"`
}

func (s Subscription) empty() bool {
	return len(s.Configs) == 0 && len(s.Namespaces) == 0 && len(s.Routes) == 0
}

type subscriptionBody struct {
	App string `json:"app"`
	Subscription
}

// SubscribedKey is one key of the agent's answer to a subscription.
type SubscribedKey struct {
	Type      string   `json:"type"` // "config" or "route"
	Namespace string   `json:"namespace"`
	Key       string   `json:"key"`
	Service   string   `json:"service"`
	Path      string   `json:"path"` // its cache file
	Revision  int64    `json:"revision"`
	Cached    bool     `json:"cached"` // the file is there
	Owners    []string `json:"owners"`
}

// SubscribedNamespace is one namespace of the agent's answer.
type SubscribedNamespace struct {
	Namespace  string   `json:"namespace"`
	Path       string   `json:"path"` // its cache directory
	CachedKeys int      `json:"cached_keys"`
	Revision   int64    `json:"revision"`
	Owners     []string `json:"owners"`
}

// SubscriptionAnswer is the agent's answer to POST or DELETE
// /v1/subscriptions.
type SubscriptionAnswer struct {
	App           string                `json:"app"`
	Subscriptions []SubscribedKey       `json:"subscriptions"`
	Namespaces    []SubscribedNamespace `json:"namespaces"`
	Unsubscribed  *Subscription         `json:"unsubscribed,omitempty"` // DELETE only
}

// Subscribe subscribes configs, namespaces and route tables for owner
// (POST /v1/subscriptions); the agent fetches them into its file cache and
// keeps them while some owner holds them.
func (a *Agent) Subscribe(ctx context.Context, owner string, s Subscription) (*SubscriptionAnswer, error) {
	if err := ValidateName("owner", owner); err != nil {
		return nil, err
	}
	var ans SubscriptionAnswer
	if err := a.call(ctx, http.MethodPost, "/v1/subscriptions", nil, subscriptionBody{owner, s}, &ans, 0); err != nil {
		return nil, err
	}
	return &ans, nil
}

// Unsubscribe removes owner's subscriptions (DELETE /v1/subscriptions).
// The cache files stay.
func (a *Agent) Unsubscribe(ctx context.Context, owner string, s Subscription) error {
	if err := ValidateName("owner", owner); err != nil {
		return err
	}
	return a.call(ctx, http.MethodDelete, "/v1/subscriptions", nil, subscriptionBody{owner, s}, nil, 0)
}

// WatchRequest is one call of the blocking watch (GET /v1/watch).
type WatchRequest struct {
	Configs    []ConfigName
	Namespaces []string
	Services   []string
	// Index and Epoch of the previous answer; zero on the first call (the
	// answer is then full).
	Index int64
	Epoch string
	// How long the agent waits for a change (it adds up to a sixteenth at
	// random); 0: 60 s.
	Timeout time.Duration
}

// WatchAnswer is the agent's answer to a watch.
type WatchAnswer struct {
	Epoch    string
	Index    int64
	Full     bool // every subscribed key of the selection: replace, not merge
	TimedOut bool
	// Changes, decoded and verified; a change that does not decode is in
	// Garbled instead (and must not replace a good value).
	Changes []*Entry
	Garbled []error
}

// Watch waits (up to r.Timeout) for a change of the selection and returns
// the new versions.
func (a *Agent) Watch(ctx context.Context, r WatchRequest) (*WatchAnswer, error) {
	q := url.Values{}
	for _, c := range r.Configs {
		q.Add("config", c.Namespace+"/"+c.Key)
	}
	for _, n := range r.Namespaces {
		q.Add("namespace", n)
	}
	for _, s := range r.Services {
		q.Add("service", s)
	}
	if r.Index > 0 && r.Epoch != "" {
		q.Set("index", strconv.FormatInt(r.Index, 10))
		q.Set("epoch", r.Epoch)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	q.Set("timeout", strconv.FormatInt(timeout.Milliseconds(), 10)+"ms")
	var raw struct {
		Epoch    string            `json:"epoch"`
		Index    int64             `json:"index"`
		Full     bool              `json:"full"`
		TimedOut bool              `json:"timed_out"`
		Changes  []json.RawMessage `json:"changes"`
	}
	// The agent may answer up to timeout/16 late; leave it room.
	if err := a.call(ctx, http.MethodGet, "/v1/watch?"+q.Encode(), nil, nil, &raw, timeout+timeout/8+5*time.Second); err != nil {
		return nil, err
	}
	ans := &WatchAnswer{Epoch: raw.Epoch, Index: raw.Index, Full: raw.Full, TimedOut: raw.TimedOut}
	for _, c := range raw.Changes {
		e, err := DecodeEntry(c)
		if err != nil {
			ans.Garbled = append(ans.Garbled, err)
			continue
		}
		ans.Changes = append(ans.Changes, e)
	}
	return ans, nil
}

// Check is one health check of a registered instance (docs/agent-api.md).
// Durations are sent as whole milliseconds ("1500ms").
type Check struct {
	ID           string        // default: <service>.<id>.<n>
	Kind         string        // "http", "tcp", "ttl" or "exec"
	URL          string        // http
	Interval     time.Duration // http, tcp, exec; default 10 s
	Timeout      time.Duration // http, tcp, exec; default 2 s
	TTL          time.Duration // ttl
	Target       string        // tcp; default the instance's address
	ExpectStatus int           // http; default any 2xx
	Args         []string      // exec
}

func durationString(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

func (c Check) body() map[string]interface{} {
	m := map[string]interface{}{"kind": c.Kind}
	if c.ID != "" {
		m["id"] = c.ID
	}
	if c.URL != "" {
		m["url"] = c.URL
	}
	if c.Interval > 0 {
		m["interval"] = durationString(c.Interval)
	}
	if c.Timeout > 0 {
		m["timeout"] = durationString(c.Timeout)
	}
	if c.TTL > 0 {
		m["ttl"] = durationString(c.TTL)
	}
	if c.Target != "" {
		m["target"] = c.Target
	}
	if c.ExpectStatus != 0 {
		m["expect_status"] = c.ExpectStatus
	}
	if len(c.Args) > 0 {
		m["args"] = c.Args
	}
	return m
}

// InstanceSpec is what PUT /v1/services/<service>/instances/<id> sends.
type InstanceSpec struct {
	Service  string
	ID       string
	Address  string // host:port consumers call
	Weight   int    // 1..10000; 0 means 100
	Metadata map[string]string
	// Owner: a PUT, DELETE or TTL update with another owner gets 409.
	Owner  string
	Checks []Check
}

// PutInstance registers or updates an instance through the agent.
func (a *Agent) PutInstance(ctx context.Context, s InstanceSpec) error {
	if err := ValidateName("service", s.Service); err != nil {
		return err
	}
	if err := ValidateName("id", s.ID); err != nil {
		return err
	}
	body := map[string]interface{}{"address": s.Address}
	if s.Weight != 0 {
		body["weight"] = s.Weight
	}
	if len(s.Metadata) > 0 {
		body["metadata"] = s.Metadata
	}
	if s.Owner != "" {
		body["owner"] = s.Owner
	}
	if len(s.Checks) > 0 {
		checks := make([]map[string]interface{}, 0, len(s.Checks))
		for _, c := range s.Checks {
			checks = append(checks, c.body())
		}
		body["checks"] = checks
	}
	return a.call(ctx, http.MethodPut, instancePath(s.Service, s.ID, ""), nil, body, nil, 0)
}

// DeleteInstance deregisters an instance at once.
func (a *Agent) DeleteInstance(ctx context.Context, service, id, owner string) error {
	if err := ValidateName("service", service); err != nil {
		return err
	}
	if err := ValidateName("id", id); err != nil {
		return err
	}
	return a.call(ctx, http.MethodDelete, instancePath(service, id, owner), nil, nil, nil, 0)
}

// GetInstance returns the agent's view of an instance (404: not
// registered on this agent).
func (a *Agent) GetInstance(ctx context.Context, service, id string) (map[string]interface{}, error) {
	var out map[string]interface{}
	err := a.call(ctx, http.MethodGet, instancePath(service, id, ""), nil, nil, &out, 0)
	return out, err
}

// UpdateTTL reports a TTL check's state: status "pass", "warn" or "fail"
// (PUT /v1/checks/<id>/<status>).
func (a *Agent) UpdateTTL(ctx context.Context, checkID, status, owner, output string) error {
	switch status {
	case "pass", "warn", "fail":
	default:
		return fmt.Errorf("kess: TTL status %q is not pass, warn or fail", status)
	}
	path := "/v1/checks/" + url.PathEscape(checkID) + "/" + status
	if owner != "" {
		path += "?owner=" + url.QueryEscape(owner)
	}
	var body interface{}
	if output != "" {
		body = map[string]string{"output": output}
	}
	return a.call(ctx, http.MethodPut, path, nil, body, nil, 0)
}

func instancePath(service, id, owner string) string {
	p := "/v1/services/" + service + "/instances/" + id
	if owner != "" {
		p += "?owner=" + url.QueryEscape(owner)
	}
	return p
}
