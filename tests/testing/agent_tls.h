// A self-signed certificate for TLS tests, made in memory with OpenSSL:
// CN=localhost, subjectAltName DNS:localhost and IP:127.0.0.1, usable as its
// own root (CA:TRUE).
#ifndef FIELDLOG_TESTS_TESTING_AGENT_TLS_H_
#define FIELDLOG_TESTS_TESTING_AGENT_TLS_H_

#include <string>

namespace fieldlog::testing {

struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};

TestCertificate MakeSelfSignedCertificate();

}  // namespace fieldlog::testing

#endif  // FIELDLOG_TESTS_TESTING_AGENT_TLS_H_
