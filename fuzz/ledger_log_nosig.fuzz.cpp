// The same target as ledger_log, linked with wire::verify() accepting any
// signature (fuzz/nosig_verify.cpp): the chain rules behind it get fuzzed.
#include "fuzz/ledger_log.fuzz.cpp"
