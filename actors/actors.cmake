# The CAF actors and the transport: where the pure modules meet the network.
find_package(spdlog CONFIG REQUIRED)
hydra_add_module(NAME actors
  SRCS transport.cpp capabilities.cpp roles.cpp node.cpp peer_record.cpp credentials.cpp ctl_client.cpp dist_trainer.cpp collective.cpp
       ledger_sync.cpp scoring.cpp collector.cpp guest.cpp
  DEPS hydra::membership hydra::wire hydra::kernels hydra::comm hydra::data hydra::mpi hydra::placement hydra::ledger hydra::trust CAF::core spdlog::spdlog nlohmann_json::nlohmann_json
  TESTS transport.test.cpp roles.test.cpp dist_trainer.test.cpp ledger_sync.test.cpp collector.test.cpp capabilities.test.cpp guest.test.cpp)
