// Package faultlab runs real `tutti server` processes under real faults and
// checks, from a client history alone, that no acknowledged write was lost.
// Where internal/sim drives the protocol packages on a simulated network,
// this package tests the shipped binary over real sockets, Pebble and
// memberlist.
//
// Contract.
//
//   - A Lab (Start) runs 3 to 5 nodes, each a `tutti server` process in its
//     own Linux network namespace with its own IPv4 address on a shared
//     bridge. The bridge lives in a namespace of its own, so the root
//     namespace's firewall (Docker's FORWARD DROP, for one) never sees
//     node-to-node traffic; the root namespace has an address on the bridge,
//     so the test process reaches every node's HTTP port directly. Start
//     returns once every node sees every member alive.
//   - Faults are real: Kill sends SIGKILL and Restart starts the node again
//     on the same data directory with the same flags; Wipe, between the
//     two, removes the data directory (a lost disk: the node comes back
//     empty under a new actor id); Pause and Resume send
//     SIGSTOP and SIGCONT; Partition adds nftables rules inside the nodes'
//     namespaces that drop packets between node addresses only, so clients
//     still reach every node, and Heal removes them. A symmetric partition
//     drops in the input chains of both sides (silently, like a cut
//     cable); a one-way partition drops only in the senders' output chains.
//   - Every name a Lab creates (namespaces, interfaces, nftables tables)
//     starts with a tag made of the test process's pid and a random part, so
//     parallel runs do not clash. t.Cleanup kills the processes and deletes
//     the namespaces even when the test fails; Start also removes what a
//     crashed earlier run (whose pid no longer exists) left behind.
//   - A Workload runs concurrent clients doing blind PUTs (no causal
//     context, so no write replaces another, each value unique, each key
//     written a few times only) and GETs against random nodes with a random
//     w (1 to N), dw (1 to w) and r per request, and records a history as
//     JSON lines: one Op per invoke and one per completion. A completion is
//     OK when the node answered success, Fail only when nothing can have been
//     written (a 4xx, or the connection was never made), and Info otherwise
//     (timeout, reset, 503, 5xx): the write may or may not have happened.
//   - Check is a pure function of a history and the final values of every
//     key (FinalRead, r=all, every sibling). It reports every OK put whose
//     value is missing from the final read (a lost acknowledged write), every
//     Fail put whose value was ever read, every value read that no put wrote
//     before the read completed, and malformed histories. Info puts may or
//     may not be present.
//   - CheckCopies and CheckOwnedCopies judge every replica's own copy of
//     every key (ReadCopies, GET /v1/debug/local: no coordination, so no
//     read repair): each owner holds every acknowledged put, the owners'
//     copies hold the same versions under the same dots, no other node
//     holds one and no hint is left. CheckRoots (WaitRoots, GET
//     /v1/debug/aae) requires every node's Merkle trees built and one root
//     per partition across its owners: anti-entropy converged.
//
// Writes use dw >= 1, so the coordinator has fsynced every acknowledged
// write; short of Wipe no fault here destroys a data directory, so none of
// them may be lost. After Wipe, a put acknowledged by the wiped node alone
// (w=1) before the wipe may be gone by design, and a test counts it as
// indeterminate. The package needs root and the ip and nft commands;
// Supported says whether they are usable, and tests skip when they are
// not.
package faultlab
