// The frames are what the schema says: Cap'n Proto's stock `capnp decode`
// reads a sealed frame as an Envelope and its payload as a Message.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "wire/frame.hpp"
#include "wire/internal/test_util.hpp"

namespace hydra::wire {
namespace {

namespace fs = std::filesystem;

/// Runs a shell command; its stdout and stderr.
std::string run(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen((cmd + " 2>&1").c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

bool have_capnp_tool() { return std::system("command -v capnp >/dev/null 2>&1") == 0; }

fs::path write_temp(const std::string& name, std::span<const std::uint8_t> bytes) {
  const fs::path p = fs::temp_directory_path() /
                     ("hydra-wire-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return p;
}

std::string decode(const char* type, const fs::path& file) {
  return run(std::string("cd '") + HYDRA_SOURCE_DIR + "' && capnp decode wire/hydra.capnp " + type +
             " < '" + file.string() + "'");
}

TEST(DecodeTool, StockToolReadsEnvelopeAndPayload) {
  if (!have_capnp_tool()) GTEST_SKIP() << "the capnp tool is not installed";
  const identity self = generate_identity();
  capnp::MallocMessageBuilder m;
  auto entry = m.initRoot<Message>().initHello().initSelf();
  entry.getInfo().setId(capnp::Data::Reader(self.id.data(), self.id.size()));
  entry.getInfo().setAddress("127.0.0.1:4000");
  entry.setIncarnation(3);
  entry.getCapabilities().setCores(2);
  const auto frame = seal(self, m);

  const fs::path frame_file = write_temp("frame.bin", frame);
  const std::string envelope = decode("Envelope", frame_file);
  EXPECT_NE(envelope.find("version = 2"), std::string::npos) << envelope;
  EXPECT_NE(envelope.find("publicKey = "), std::string::npos) << envelope;
  EXPECT_NE(envelope.find("signature = "), std::string::npos) << envelope;
  EXPECT_NE(envelope.find("payload = "), std::string::npos) << envelope;

  auto opened = open(frame);
  ASSERT_TRUE(opened) << opened.err().message;
  const fs::path payload_file = write_temp("payload.bin", opened->payload_bytes());
  const std::string message = decode("Message", payload_file);
  EXPECT_NE(message.find("hello = "), std::string::npos) << message;
  EXPECT_NE(message.find("address = \"127.0.0.1:4000\""), std::string::npos) << message;
  EXPECT_NE(message.find("incarnation = 3"), std::string::npos) << message;

  // A capture of several frames decodes one envelope after another.
  const auto two = testing::concat({frame, testing::ping_frame(self, 5)});
  const fs::path capture = write_temp("capture.bin", two);
  const std::string both = decode("Envelope", capture);
  std::size_t versions = 0;
  for (auto at = both.find("version = 2"); at != std::string::npos;
       at = both.find("version = 2", at + 1))
    ++versions;
  EXPECT_EQ(versions, 2u) << both;

  fs::remove(frame_file);
  fs::remove(payload_file);
  fs::remove(capture);
}

}  // namespace
}  // namespace hydra::wire
