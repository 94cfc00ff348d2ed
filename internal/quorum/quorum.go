// Package quorum does the arithmetic of quorum reads and writes: given the
// replies so far, is the request answered, has it failed for certain, and
// what does the failure say. It is pure: callers feed it replies in any order
// and ask after each one (Riak's get_core and put_core, Dynamo section 4.5).
//
// A tally is done as soon as success is reached or failure is certain:
// failure is certain when the replies still outstanding cannot lift a count
// to its requirement.
package quorum

// Need says what a failed tally was short of: which count, how many were
// required and how many replies counted toward it.
type Need struct {
	// What is "w", "dw", "pw", "r" or "pr".
	What     string
	Needed   int
	Answered int
}

// Write tallies the acknowledgements of one replicated write.
//
// W counts replicas that stored the write, DW those that also fsynced it,
// and PW acknowledgements from primary owners. As in Riak, W is raised to at
// least DW and PW: a durable or primary acknowledgement is an
// acknowledgement.
type Write struct {
	w, dw, pw int
	// outstanding and outstandingPrimary count targets not yet answered.
	outstanding, outstandingPrimary int
	acks, durable, primary          int
	failed                          int
}

// NewWrite starts a tally over targets replicas, primaries of which are
// primary owners of the key.
func NewWrite(targets, primaries, w, dw, pw int) *Write {
	w = max(w, dw, pw)
	return &Write{w: w, dw: dw, pw: pw, outstanding: targets, outstandingPrimary: primaries}
}

// Ack records a successful store on one target.
func (t *Write) Ack(primary, durable bool) {
	t.outstanding--
	t.acks++
	if durable {
		t.durable++
	}
	if primary {
		t.outstandingPrimary--
		t.primary++
	}
}

// Fail records a target that failed or will not answer.
func (t *Write) Fail(primary bool) {
	t.outstanding--
	t.failed++
	if primary {
		t.outstandingPrimary--
	}
}

// Succeeded reports whether every requirement is met.
func (t *Write) Succeeded() bool {
	return t.acks >= t.w && t.durable >= t.dw && t.primary >= t.pw
}

// Failed reports whether success has become impossible, and what it lacks.
func (t *Write) Failed() (Need, bool) {
	switch {
	case t.primary+t.outstandingPrimary < t.pw:
		return Need{"pw", t.pw, t.primary}, true
	case t.acks+t.outstanding < t.w:
		return Need{"w", t.w, t.acks}, true
	case t.durable+t.outstanding < t.dw:
		return Need{"dw", t.dw, t.durable}, true
	}
	return Need{}, false
}

// Done reports whether the outcome is known.
func (t *Write) Done() bool {
	_, failed := t.Failed()
	return t.Succeeded() || failed
}

// Shortfall says what the tally still lacks; callers use it when a deadline
// ends the request before Done.
func (t *Write) Shortfall() Need {
	switch {
	case t.primary < t.pw:
		return Need{"pw", t.pw, t.primary}
	case t.acks < t.w:
		return Need{"w", t.w, t.acks}
	case t.durable < t.dw:
		return Need{"dw", t.dw, t.durable}
	}
	return Need{}
}

// Read tallies the replies of one quorum read. A reply that says "not
// found" is a reply: it counts toward R (Riak's notfound_ok).
type Read struct {
	r, pr                           int
	outstanding, outstandingPrimary int
	replies, primary                int
}

// NewRead starts a tally over targets replicas, primaries of which are
// primary owners.
func NewRead(targets, primaries, r, pr int) *Read {
	return &Read{r: max(r, pr), pr: pr, outstanding: targets, outstandingPrimary: primaries}
}

// Reply records an answer (found or not) from one target.
func (t *Read) Reply(primary bool) {
	t.outstanding--
	t.replies++
	if primary {
		t.outstandingPrimary--
		t.primary++
	}
}

// Fail records a target that failed or will not answer.
func (t *Read) Fail(primary bool) {
	t.outstanding--
	if primary {
		t.outstandingPrimary--
	}
}

// Succeeded reports whether R and PR are met.
func (t *Read) Succeeded() bool { return t.replies >= t.r && t.primary >= t.pr }

// Failed reports whether success has become impossible, and what it lacks.
func (t *Read) Failed() (Need, bool) {
	switch {
	case t.primary+t.outstandingPrimary < t.pr:
		return Need{"pr", t.pr, t.primary}, true
	case t.replies+t.outstanding < t.r:
		return Need{"r", t.r, t.replies}, true
	}
	return Need{}, false
}

// Done reports whether the outcome is known.
func (t *Read) Done() bool {
	_, failed := t.Failed()
	return t.Succeeded() || failed
}

// Shortfall says what the tally still lacks.
func (t *Read) Shortfall() Need {
	if t.primary < t.pr {
		return Need{"pr", t.pr, t.primary}
	}
	return Need{"r", t.r, t.replies}
}

// Outstanding is the number of targets that have not answered.
func (t *Read) Outstanding() int { return t.outstanding }
