# The Hydra wire protocol, version 1. Every frame on a Hydra TCP connection is
# one `Envelope` in Cap'n Proto's standard stream serialization (segment table
# + segments): `capnp decode wire/hydra.capnp Envelope < frame.bin` reads it.
# The envelope carries the sender's Ed25519 public key and a signature over
# (version, publicKey, recipient, nonce, expires, payload); `payload` is itself
# a serialized `Message`. On a Hydra connection every envelope travels inside
# the encrypted channel (trust/channel.hpp, docs/security.md).
# Another implementation can speak Hydra from this file and docs/protocol.md.
@0xc6e6fee6147b35c6;

struct Envelope {
  version @0 :UInt16;      # protocol version; a mismatch closes the connection
  publicKey @1 :Data;      # 32-byte Ed25519 key; node id = BLAKE2b-256(publicKey)
  signature @2 :Data;      # 64-byte Ed25519 signature, see above
  payload @3 :Data;        # a serialized Message (stream serialization)
  recipient @4 :Data;      # 32-byte node id the frame is for; empty = any receiver
  nonce @5 :UInt64;        # random per frame: a receiver refuses a (sender, nonce) it has seen
  expires @6 :Int64;       # unix seconds after which the frame is refused
}

struct Capabilities {
  gflops @0 :Float64;        # sustained GFLOP/s measured on the real kernels
  cores @1 :UInt32;
  memoryBytes @2 :UInt64;
  cpuLimit @3 :Float32;      # duty-cycle cap in percent (100 = none)
  onBattery @4 :Bool;
  batteryPercent @5 :Float32;  # -1 when there is no battery
  load1 @6 :Float32;         # 1-minute load average
  idle @7 :Bool;             # the machine is otherwise idle
  paused @8 :Text;           # why this node's trainer is paused by its guest policy, "" = not paused
}

struct PeerInfo {
  id @0 :Data;               # 32-byte node id
  address @1 :Text;          # "host:port" the peer listens on
}

struct PeerEntry {
  info @0 :PeerInfo;
  incarnation @1 :UInt64;    # grows on every restart of that node
  heartbeat @2 :UInt64;      # grows while that node runs
  capabilities @3 :Capabilities;
  dataAddress @4 :Text;      # "host:port" of its collective data plane ("" = none)
  # Signed by its subject, so a relay can neither forge nor alter it
  # (actors/peer_record.hpp has the signed bytes):
  publicKey @5 :Data;        # the subject's 32-byte Ed25519 key (id = BLAKE2b-256 of it)
  cert @6 :Data;             # the subject's membership certificate (trust/cert.hpp)
  signature @7 :Data;        # 64-byte Ed25519 signature by publicKey over the record
}

struct Message {
  union {
    hello @0 :Hello;
    ping @1 :Ping;
    pong @2 :Pong;
    gossip @3 :Gossip;
    findNode @4 :FindNode;
    foundNodes @5 :FoundNodes;
    probe @6 :Probe;
    probeAck @7 :ProbeAck;
    ctlRequest @8 :CtlRequest;
    ctlReply @9 :CtlReply;
    linkHello @10 :LinkHello;
    ledgerHeads @11 :LedgerHeads;
    ledgerEntries @12 :LedgerEntries;
    ledgerAck @13 :LedgerAck;
    contribute @14 :Contribute;
    contributeReply @15 :ContributeReply;
    scoreRequest @16 :ScoreRequest;
    scoreReply @17 :ScoreReply;
    samplesSeen @18 :SamplesSeen;
  }
}

struct Hello {
  self @0 :PeerEntry;        # who is speaking, where it listens
}

struct Ping {
  nonce @0 :UInt64;
}

struct Pong {
  nonce @0 :UInt64;          # the ping's nonce, echoed
}

struct Gossip {
  entries @0 :List(PeerEntry);
}

struct FindNode {
  requestId @0 :UInt64;
  target @1 :Data;           # 32-byte id to look up
}

struct FoundNodes {
  requestId @0 :UInt64;
  nodes @1 :List(PeerInfo);  # the k closest the responder knows
}

struct Probe {
  nonce @0 :UInt64;
  data @1 :Data;             # filler bytes for a bandwidth measurement
}

struct ProbeAck {
  nonce @0 :UInt64;
  bytes @1 :UInt64;
}

struct CtlRequest {
  requestId @0 :UInt64;
  command @1 :Text;          # e.g. "peers"
  args @2 :List(Text);
}

struct CtlReply {
  requestId @0 :UInt64;
  ok @1 :Bool;
  json @2 :Text;             # the answer, as JSON text
}

# The state of one actor, for migration and resume.
struct ActorSnapshot {
  logicalId @0 :Text;        # e.g. "trainer/0"
  kind @1 :Text;             # "node", "trainer", "collector", "ledger"
  state @2 :Data;            # the actor's own encoding of its state
}

# A node's durable view, kept in its state directory so a restarted node
# rejoins the peers it knew even without --join.
struct NodeSnapshot {
  incarnation @0 :UInt64;
  peers @1 :List(PeerInfo);
  roles @2 :List(ActorSnapshot);
}

# The data plane of a collective (comm/tcp_link): every connection is the
# encrypted channel of trust/channel.hpp; inside it the connecting rank sends
# a signed LinkHello, then frames carry `LinkChunk` messages (no per-frame
# signature: the channel's AEAD authenticates every record; see
# docs/protocol.md and docs/channel.md).
struct LinkHello {
  group @0 :UInt64;          # which collective group this connection serves
  rank @1 :UInt32;           # the sender's rank in it
  size @2 :UInt32;
}

struct LinkChunk {
  data @0 :Data;
}

# ---- Ledger replication (anti-entropy) ----------------------------------------
# A ledger entry travels as its canonical encoding (ledger/entry.hpp), which
# carries its author's own Ed25519 signature: a replica checks that, not the
# envelope, before it stores an entry.

struct LedgerHead {
  author @0 :Data;           # 32-byte author key
  seq @1 :UInt64;            # the author's last seq this replica holds
  hash @2 :Data;             # BLAKE2b-256 of that entry
}

# "Here is what I hold." The receiver answers with LedgerEntries holding
# what the sender lacks and, when it lacks something itself, with its own
# heads (reply = true, which is never answered with heads again).
struct LedgerHeads {
  heads @0 :List(LedgerHead);
  reply @1 :Bool;
}

struct LedgerEntries {
  requestId @0 :UInt64;      # non-zero: the sender wants a LedgerAck once stored
  entries @1 :List(Data);    # canonical encodings, appendable in list order
}

struct LedgerAck {
  requestId @0 :UInt64;
  stored @1 :UInt32;         # entries of the request now durable (fsync'd) here
  hash @2 :Data;             # entry hash of the request's last entry, held here: binds the ack to it
}

# ---- Data contributions ------------------------------------------------------
# A contributor's frame is sealed with the contributor's own key: the
# envelope's key is who gets credited.

struct ContributionFile {
  name @0 :Text;             # relative name ("3/a.pgm", "data.csv", ...)
  data @1 :Data;
}

struct Contribute {
  requestId @0 :UInt64;
  format @1 :Text;           # "idx", "csv" or "pgm"
  files @2 :List(ContributionFile);
  wait @3 :Bool;             # answer after the quorum decided (else after validation)
}

struct ContributeReply {
  requestId @0 :UInt64;
  ok @1 :Bool;
  json @2 :Text;             # verdict: contribution id, samples, accepted, score, reason
}

# A collector asks a scorer to measure a validated contribution.
struct ScoreRequest {
  requestId @0 :UInt64;
  contribution @1 :Text;     # contribution id (hex)
  contributor @2 :Data;      # 32-byte contributor key
  rows @3 :UInt32;
  cols @4 :UInt32;
  images @5 :Data;           # rows*cols uint8 pixels per sample
  labels @6 :Data;           # one byte per sample
}

struct ScoreReply {
  requestId @0 :UInt64;
  contribution @1 :Text;
  ok @2 :Bool;               # false: not scored (reason says why; retry later if "not ready")
  entry @3 :Data;            # the scorer's signed `score` ledger entry
  reason @4 :Text;
}

# A collector tells every peer which samples it has taken in (validated,
# before scoring), so every collector finds duplicates of data another
# collector already has.
struct SamplesSeen {
  contribution @0 :Text;
  rows @1 :UInt32;
  cols @2 :UInt32;
  images @3 :Data;           # rows*cols uint8 pixels per sample
}
