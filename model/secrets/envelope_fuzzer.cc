// libFuzzer target for the encrypted value envelope (scripts/fuzz.sh
// envelope; CI replay: :envelope_fuzz_test). Properties: ParseEnvelope
// never crashes on any input; what it accepts has a non-zero key id, a
// 12-byte nonce and a 16-byte tag; Open with a fixed ring never returns a
// plaintext for an input that was not sealed by that ring (no forgery from
// random bytes), and the input sealed again opens to itself.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/fuzz_check.h"
#include "model/secrets/envelope.h"
#include "model/secrets/key_ring.h"

using kess::secrets::Key;
using kess::secrets::KeyRing;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const KeyRing* ring = new KeyRing(
      KeyRing::Create({Key{1, std::string(32, '\x01')},
                       Key{2, std::string(32, '\x02')}})
          .value());
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<kess::secrets::Envelope> env =
      kess::secrets::ParseEnvelope(input);
  if (env.ok()) {
    FUZZ_CHECK(env->key_id != 0);
    FUZZ_CHECK(env->nonce.size() == kess::secrets::kNonceBytes);
    FUZZ_CHECK(env->tag.size() == kess::secrets::kTagBytes);
  }
  absl::StatusOr<std::string> opened =
      kess::secrets::Open(*ring, "ns", "key", input);
  FUZZ_CHECK(!opened.ok());
  if (size <= 4096) {
    absl::StatusOr<std::string> sealed =
        kess::secrets::Seal(ring->newest(), "ns", "key", input);
    FUZZ_CHECK(sealed.ok());
    absl::StatusOr<std::string> back =
        kess::secrets::Open(*ring, "ns", "key", *sealed);
    FUZZ_CHECK(back.ok() && *back == input);
  }
  return 0;
}
