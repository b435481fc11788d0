# The Hydra wire protocol, version 1. Every frame on a Hydra TCP connection is
# one `Envelope` in Cap'n Proto's standard stream serialization (segment table
# + segments): `capnp decode wire/hydra.capnp Envelope < frame.bin` reads it.
# The envelope carries the sender's Ed25519 public key and a signature over
# (version, publicKey, payload); `payload` is itself a serialized `Message`.
# Another implementation can speak Hydra from this file and docs/protocol.md.
@0xc6e6fee6147b35c6;

struct Envelope {
  version @0 :UInt16;      # protocol version; a mismatch closes the connection
  publicKey @1 :Data;      # 32-byte Ed25519 key; node id = BLAKE2b-256(publicKey)
  signature @2 :Data;      # 64-byte Ed25519 signature, see above
  payload @3 :Data;        # a serialized Message (stream serialization)
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

# The data plane of a collective (comm/tcp_link): after a signed LinkHello
# on each connection, frames carry `LinkChunk` messages (no per-frame
# signature: the connection was authenticated by the hello; see
# docs/protocol.md).
struct LinkHello {
  group @0 :UInt64;          # which collective group this connection serves
  rank @1 :UInt32;           # the sender's rank in it
  size @2 :UInt32;
}

struct LinkChunk {
  data @0 :Data;
}
