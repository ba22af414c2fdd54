package kess

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// ErrInvalidTable is wrapped by every error about a route table document
// that breaks docs/route-table.md.
var ErrInvalidTable = errors.New("invalid route table")

// Instance states in a route table.
const (
	StateHealthy  = "healthy"
	StateSuspect  = "suspect"  // kept, used only when no healthy one is left
	StateDisabled = "disabled" // never picked
)

// MaxInstanceWeight is the largest weight of an instance.
const MaxInstanceWeight = 10000

// RouteInstance is one instance of a route table (docs/route-table.md).
type RouteInstance struct {
	ID           string            `json:"id"`
	Host         string            `json:"host"`
	Address      string            `json:"address"`
	Datacenter   string            `json:"datacenter"`
	Weight       int               `json:"weight"`
	State        string            `json:"state"`
	Health       string            `json:"health"`
	Metadata     map[string]string `json:"metadata"`
	RegisteredMs int64             `json:"registered_ms"`
	CheckStatus  string            `json:"check_status,omitempty"`
	CheckOutput  string            `json:"check_output,omitempty"`
}

// RouteTable is one version of a service's route table. Instances are
// sorted by ID.
type RouteTable struct {
	Service   string
	Revision  int64
	Instances []RouteInstance
}

// ParseRouteTable decodes and validates a route table document exactly as
// the C++ codec does (model/route_table.h): format 1, a valid service name,
// an "instances" array whose members have a valid id, host, datacenter, a
// host:port address, a weight in 1..10000, a known state (default healthy),
// a health word (default "up"), a valid check status and output, at most 64
// metadata entries with valid keys and values of at most 1024 bytes, and no
// duplicate id. Unknown fields are ignored. Errors wrap ErrInvalidTable.
func ParseRouteTable(data []byte) (*RouteTable, error) {
	var doc struct {
		Format    *int64
		Service   *string
		Revision  *int64
		Instances *[]*rawInstance
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidTable, jsonProblem(err))
	}
	if doc.Format == nil {
		return nil, fmt.Errorf("%w: field \"format\" is missing", ErrInvalidTable)
	}
	if *doc.Format != 1 {
		return nil, fmt.Errorf("%w: format %d is not supported (expected 1)", ErrInvalidTable, *doc.Format)
	}
	if doc.Service == nil {
		return nil, fmt.Errorf("%w: field \"service\" is missing", ErrInvalidTable)
	}
	t := &RouteTable{Service: *doc.Service}
	if err := ValidateName("service", t.Service); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTable, err)
	}
	if doc.Revision != nil {
		t.Revision = *doc.Revision
	}
	if doc.Instances == nil {
		return nil, fmt.Errorf("%w: field \"instances\" must be an array", ErrInvalidTable)
	}
	list := *doc.Instances
	ids := make(map[string]bool, len(list))
	t.Instances = make([]RouteInstance, 0, len(list))
	for i, raw := range list {
		in, err := raw.instance()
		if err != nil {
			return nil, fmt.Errorf("%w: instances[%d]: %v", ErrInvalidTable, i, err)
		}
		if ids[in.ID] {
			return nil, fmt.Errorf("%w: instances[%d]: duplicate instance id %q", ErrInvalidTable, i, in.ID)
		}
		ids[in.ID] = true
		t.Instances = append(t.Instances, in)
	}
	if !sort.SliceIsSorted(t.Instances, func(a, b int) bool { return t.Instances[a].ID < t.Instances[b].ID }) {
		sort.Slice(t.Instances, func(a, b int) bool { return t.Instances[a].ID < t.Instances[b].ID })
	}
	return t, nil
}

// rawInstance is an instance as the JSON has it: nil = missing or null.
type rawInstance struct {
	ID           *string           `json:"id"`
	Host         *string           `json:"host"`
	Address      *string           `json:"address"`
	Datacenter   *string           `json:"datacenter"`
	Weight       *int              `json:"weight"`
	State        *string           `json:"state"`
	Health       *string           `json:"health"`
	Metadata     map[string]string `json:"metadata"`
	RegisteredMs *int64            `json:"registered_ms"`
	CheckStatus  *string           `json:"check_status"`
	CheckOutput  *string           `json:"check_output"`
}

func (r *rawInstance) instance() (RouteInstance, error) {
	in := RouteInstance{State: StateHealthy, Health: "up", Metadata: r.Metadata}
	if r == nil {
		return in, errors.New("is not an object")
	}
	for _, f := range []struct {
		name string
		v    *string
		out  *string
	}{{"id", r.ID, &in.ID}, {"host", r.Host, &in.Host}, {"address", r.Address, &in.Address},
		{"datacenter", r.Datacenter, &in.Datacenter}} {
		if f.v == nil {
			return in, fmt.Errorf("field %q is missing", f.name)
		}
		*f.out = *f.v
	}
	if r.Weight == nil {
		return in, errors.New("field \"weight\" is missing")
	}
	in.Weight = *r.Weight
	if r.State != nil {
		in.State = *r.State
	}
	if r.Health != nil {
		in.Health = *r.Health
	}
	if r.RegisteredMs != nil {
		in.RegisteredMs = *r.RegisteredMs
	}
	if r.CheckStatus != nil {
		in.CheckStatus = *r.CheckStatus
	}
	if r.CheckOutput != nil {
		in.CheckOutput = *r.CheckOutput
	}
	if in.State != StateHealthy && in.State != StateSuspect && in.State != StateDisabled {
		return in, fmt.Errorf("unknown state %q", in.State)
	}
	return in, validateInstance(&in)
}

// jsonProblem names what was wrong with a document that did not decode.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "not a JSON object: " + err.Error()
}

func validateInstance(in *RouteInstance) error {
	if err := ValidateName("id", in.ID); err != nil {
		return err
	}
	if err := ValidateName("host", in.Host); err != nil {
		return err
	}
	if err := ValidateName("datacenter", in.Datacenter); err != nil {
		return err
	}
	if in.Weight < 1 || in.Weight > MaxInstanceWeight {
		return fmt.Errorf("weight %d is outside 1..%d", in.Weight, MaxInstanceWeight)
	}
	if !validAddress(in.Address) {
		return errors.New("address must be host:port with a port in 1..65535")
	}
	if !validHealthWord(in.Health) {
		return errors.New("health must be a lower-case word of a-z and _ (at most 32)")
	}
	switch in.CheckStatus {
	case "", "passing", "warning", "critical":
	default:
		return fmt.Errorf("check_status %q is not one of passing, warning, critical", in.CheckStatus)
	}
	if len(in.CheckOutput) > 256 {
		return errors.New("check_output must be at most 256 bytes")
	}
	for i := 0; i < len(in.CheckOutput); i++ {
		if c := in.CheckOutput[i]; !((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n') {
			return errors.New("check_output must be printable ASCII, tab and newline")
		}
	}
	if len(in.Metadata) > 64 {
		return errors.New("at most 64 metadata entries")
	}
	for k, v := range in.Metadata {
		if err := ValidateName("key", k); err != nil {
			return fmt.Errorf("metadata %v", err)
		}
		if len(v) > 1024 {
			return fmt.Errorf("metadata %q is longer than 1024 bytes", k)
		}
	}
	return nil
}

// validAddress: "host:port", a non-empty host part, a port in 1..65535, at
// most 256 bytes.
func validAddress(a string) bool {
	colon := -1
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == ':' {
			colon = i
			break
		}
	}
	if colon <= 0 || colon+1 >= len(a) || len(a) > 256 {
		return false
	}
	port := 0
	for i := colon + 1; i < len(a); i++ {
		c := a[i]
		if c < '0' || c > '9' || port >= 100000 {
			return false
		}
		port = port*10 + int(c-'0')
	}
	return port >= 1 && port <= 65535
}

func validHealthWord(h string) bool {
	if h == "" || len(h) > 32 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !((c >= 'a' && c <= 'z') || c == '_') {
			return false
		}
	}
	return true
}
