//! Real ACME clients against the `e2ei-acme-server` binary over HTTPS, on its standard
//! provisioner (no external account binding): certbot (http-01, then `certbot revoke`), lego
//! (http-01, tls-alpn-01, dns-01 through its `exec` provider) and instant-acme (http-01).
//! The authority validates on unprivileged ports and resolves every name through a local DNS
//! responder — `pebble-challtestsrv` (Debian `pebble`) for certbot and lego, whose management
//! API takes the TXT records lego publishes, and e2ei's own test responder for instant-acme.
//! Every issued chain is checked with `openssl verify -x509_strict` and its leaf with pkilint.
//!
//! A missing tool skips its test loudly; under `CI` it fails it (scripts/test.sh installs
//! certbot, lego, pebble, openssl and pkilint).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use der::{Decode, Encode};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::oid;
use e2ei_core::x509::{
    CertificateParts, NameAttribute, ToBeSigned, build_name, certificate_to_pem,
    certificates_from_pem_or_der, ext_key_usage, key_usage, random_serial, serial_to_hex,
    subject_key_identifier, validity,
};
use e2ei_signer::{GenerateOptions, KeyUri, Signer};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{KeyUsages, SubjectAltName};

const BIN: &str = env!("CARGO_BIN_EXE_e2ei-acme-server");

/// The standard provisioner the clients use.
const PROVISIONER: &str = "open";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process of this test, ended by its id when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `child` listens on `port`; fails at once if it exits.
fn wait_for_port(child: &mut Running, port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("{what} exited with {status} before listening");
        }
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// pebble-challtestsrv as a DNS server only: every A query answers 127.0.0.1, no AAAA, and TXT
/// records come from its management API.
struct ChallTestSrv {
    dns: SocketAddr,
    management: u16,
    _child: Running,
}

impl ChallTestSrv {
    fn start(binary: &Path) -> Self {
        let dns_port = free_port();
        let management = free_port();
        let child = Command::new(binary)
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-management", &format!("127.0.0.1:{management}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = Running(child);
        wait_for_port(&mut child, management, "pebble-challtestsrv");
        // Its DNS listener (TCP side) comes up with the management API.
        wait_for_port(&mut child, dns_port, "pebble-challtestsrv DNS");
        Self {
            dns: SocketAddr::from(([127, 0, 0, 1], dns_port)),
            management,
            _child: child,
        }
    }
}

/// The authority binary with a test PKI, an HTTPS listener and a standard provisioner.
struct Authority {
    /// First, so the server is stopped before its directory is removed.
    _child: Running,
    dir: tempfile::TempDir,
    /// The directory URL of the standard provisioner.
    directory: String,
    /// The TLS certificate of the listener (the clients' trust anchor for HTTPS).
    tls_ca: PathBuf,
    /// The PKI root that issued chains validate to.
    root: Certificate,
    /// `https://127.0.0.1:PORT`.
    base: String,
}

impl Authority {
    fn start(dns: SocketAddr, http01_port: u16, tlsalpn01_port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |p: &str| dir.path().join(p);
        std::fs::create_dir_all(path("pki")).unwrap();
        let key_uri: KeyUri = format!("file:{}", path("pki/intermediate.key").display())
            .parse()
            .unwrap();
        let intermediate_key =
            Signer::generate(&key_uri, KeyAlgorithm::P256, &GenerateOptions::default()).unwrap();
        let pki = common::TestPki::with_intermediate_key(intermediate_key);
        std::fs::write(path("pki/root.pem"), certificate_to_pem(&pki.root).unwrap()).unwrap();
        std::fs::write(
            path("pki/intermediate.pem"),
            certificate_to_pem(&pki.intermediate).unwrap(),
        )
        .unwrap();
        tls_listener_certificate(&path("tls.pem"), &path("tls.key"));
        let port = free_port();
        let base = format!("https://127.0.0.1:{port}");
        std::fs::write(
            path("acme.toml"),
            format!(
                r#"base_url = "{base}"
listen = "127.0.0.1:{port}"
database = "sqlite://acme.db"
roots = "pki/root.pem"

[tls]
certificate = "tls.pem"
key = "tls.key"

[issuer]
key = "file:pki/intermediate.key"
certificate = "pki/intermediate.pem"
crl_url = "{base}/crl"

[[provisioners]]
name = "{PROVISIONER}"
[provisioners.standard]
allowed_domains = ["*.wire.example.com"]
http01_port = {http01_port}
tlsalpn01_port = {tlsalpn01_port}
dns_resolver = "{dns}"
"#
            ),
        )
        .unwrap();
        let child = Command::new(BIN)
            .args(["--config", path("acme.toml").to_str().unwrap()])
            .env("E2EI_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = Running(child);
        wait_for_port(&mut child, port, "e2ei-acme-server");
        Self {
            directory: format!("{base}/acme/{PROVISIONER}/directory"),
            tls_ca: path("tls.pem"),
            root: pki.root,
            base,
            dir,
            _child: child,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// The revocation reason the authority recorded for `leaf`, if revoked.
    async fn revocation_reason(&self, leaf: &Certificate) -> Option<i64> {
        use sqlx::{Connection, Row};
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", self.path("acme.db").display());
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        let row = sqlx::query("SELECT revocation_reason FROM certificates WHERE serial = $1")
            .bind(serial_to_hex(leaf.tbs_certificate().serial_number()))
            .fetch_one(&mut db)
            .await
            .unwrap();
        row.try_get("revocation_reason").unwrap()
    }
}

/// A self-signed P-256 server certificate for `127.0.0.1` (IP SAN) and `localhost`, not a CA,
/// so rustls-webpki (instant-acme), Go (lego) and OpenSSL (certbot) all take it as their one
/// trusted certificate.
fn tls_listener_certificate(cert: &Path, key: &Path) {
    let uri: KeyUri = format!("file:{}", key.display()).parse().unwrap();
    let signer = Signer::generate(&uri, KeyAlgorithm::P256, &GenerateOptions::default()).unwrap();
    let name = build_name(&[NameAttribute {
        oid: oid::COMMON_NAME,
        value: "e2ei test authority".into(),
    }])
    .unwrap();
    let san = SubjectAltName(vec![
        GeneralName::IpAddress(der::asn1::OctetString::new([127, 0, 0, 1]).unwrap()),
        GeneralName::DnsName(der::asn1::Ia5String::new("localhost").unwrap()),
    ]);
    let now = time::OffsetDateTime::now_utc();
    let tbs = ToBeSigned::new(CertificateParts {
        serial: random_serial().unwrap(),
        issuer: name.clone(),
        subject: name,
        validity: validity(
            now - time::Duration::hours(1),
            now + time::Duration::days(1),
        )
        .unwrap(),
        subject_public_key: signer.public_key().clone(),
        issuer_algorithm: KeyAlgorithm::P256,
        extensions: vec![
            key_usage(KeyUsages::DigitalSignature.into()).unwrap(),
            ext_key_usage(&[oid::KP_SERVER_AUTH]).unwrap(),
            subject_key_identifier(signer.public_key()).unwrap(),
            x509_cert::ext::Extension {
                extn_id: oid::SUBJECT_ALT_NAME,
                critical: false,
                extn_value: der::asn1::OctetString::new(san.to_der().unwrap()).unwrap(),
            },
        ],
    })
    .unwrap();
    let signature = signer.sign(tbs.der()).unwrap().to_x509().unwrap();
    let certificate = tbs.into_certificate(&signature).unwrap();
    std::fs::write(cert, certificate_to_pem(&certificate).unwrap()).unwrap();
}

/// The leaf (first certificate) and the rest of a PEM file or of two files.
fn leaf_and_chain(leaf_file: &Path, chain_file: &Path) -> (Certificate, String) {
    let leaf = certificates_from_pem_or_der(&std::fs::read(leaf_file).unwrap())
        .unwrap()
        .remove(0);
    let rest = certificates_from_pem_or_der(&std::fs::read(chain_file).unwrap()).unwrap();
    let mut pem = certificate_to_pem(&leaf).unwrap();
    for c in &rest {
        if c != &leaf {
            pem.push_str(&certificate_to_pem(c).unwrap());
        }
    }
    (leaf, pem)
}

fn dns_sans(leaf: &Certificate) -> Vec<String> {
    let (_, san) = leaf
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .unwrap()
        .unwrap();
    let mut names: Vec<String> = san
        .0
        .iter()
        .map(|n| match n {
            GeneralName::DnsName(d) => d.as_str().to_owned(),
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn certbot_obtains_a_certificate_over_http01_and_revokes_it() {
    let (Some(certbot), Some(challtestsrv), Some(_)) = (
        common::tool("certbot"),
        common::tool("pebble-challtestsrv"),
        common::tool("openssl"),
    ) else {
        return;
    };
    // The Python that runs certbot has certbot's modules (its shebang names it).
    let shebang = std::fs::read_to_string(&certbot).unwrap();
    let python = shebang
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .and_then(|l| l.split_whitespace().next())
        .expect("certbot starts with a #! line")
        .to_owned();
    let dns = ChallTestSrv::start(&challtestsrv);
    let http01 = free_port();
    let authority = Authority::start(dns.dns, http01, free_port());
    let name = "certbot.wire.example.com";
    let dirs = |cmd: &mut Command| {
        cmd.arg("--config-dir")
            .arg(authority.path("cb/config"))
            .arg("--work-dir")
            .arg(authority.path("cb/work"))
            .arg("--logs-dir")
            .arg(authority.path("cb/logs"));
    };
    // certbot 2.1 registers RSA account keys only; see tests/certbot/ec_account.py.
    let mut register = Command::new(&python);
    register
        .env("REQUESTS_CA_BUNDLE", &authority.tls_ca)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/certbot/ec_account.py"
        ))
        .args(["--server", &authority.directory]);
    dirs(&mut register);
    let out = register.output().unwrap();
    assert!(out.status.success(), "certbot EC account:\n{}", text(&out));

    let mut obtain = Command::new(&certbot);
    obtain
        .env("REQUESTS_CA_BUNDLE", &authority.tls_ca)
        .args(["certonly", "--non-interactive", "--agree-tos"])
        .args([
            "--register-unsafely-without-email",
            "--no-random-sleep-on-renew",
        ])
        .args(["--server", &authority.directory])
        .args(["--standalone", "--preferred-challenges", "http-01"])
        .args(["--http-01-address", "127.0.0.1"])
        .args(["--http-01-port", &http01.to_string()])
        .args(["--key-type", "ecdsa", "-d", name]);
    dirs(&mut obtain);
    let out = obtain.output().unwrap();
    assert!(out.status.success(), "certbot certonly:\n{}", text(&out));
    let live = authority.path(&format!("cb/config/live/{name}"));
    let (leaf, chain) = leaf_and_chain(&live.join("cert.pem"), &live.join("chain.pem"));
    assert_eq!(dns_sans(&leaf), [name]);
    common::check_with_openssl_and_pkilint(&chain, &authority.root, "sslserver", &[]);
    assert_eq!(authority.revocation_reason(&leaf).await, None);

    let mut revoke = Command::new(&certbot);
    revoke
        .env("REQUESTS_CA_BUNDLE", &authority.tls_ca)
        .args(["revoke", "--non-interactive", "--no-delete-after-revoke"])
        .args(["--server", &authority.directory])
        .args(["--cert-name", name, "--reason", "keycompromise"]);
    dirs(&mut revoke);
    let out = revoke.output().unwrap();
    assert!(out.status.success(), "certbot revoke:\n{}", text(&out));
    assert_eq!(
        authority.revocation_reason(&leaf).await,
        Some(1),
        "keyCompromise recorded for the CRL"
    );
}

/// Runs lego `run` for `domains` with the challenge flags `solver`; returns the chain files.
fn lego(
    lego: &Path,
    authority: &Authority,
    domains: &[&str],
    solver: &[&str],
    env: &[(&str, String)],
) -> (Certificate, String) {
    let data = authority.path("lego");
    let mut cmd = Command::new(lego);
    cmd.env("LEGO_CA_CERTIFICATES", &authority.tls_ca)
        .args(["--server", &authority.directory])
        .args(["--accept-tos", "--email", "ops@wire.example.com"])
        .args(["--key-type", "ec256", "--path"])
        .arg(&data);
    for d in domains {
        cmd.args(["--domains", d]);
    }
    cmd.args(solver).arg("run");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "lego {solver:?}:\n{}", text(&out));
    // lego names the files after the first domain, `*` written as `_`.
    let stem = domains[0].replace('*', "_");
    leaf_and_chain(
        &data.join(format!("certificates/{stem}.crt")),
        &data.join(format!("certificates/{stem}.issuer.crt")),
    )
}

#[tokio::test]
async fn lego_obtains_certificates_over_http01_tls_alpn01_and_dns01() {
    let (Some(lego_bin), Some(challtestsrv), Some(_), Some(curl)) = (
        common::tool("lego"),
        common::tool("pebble-challtestsrv"),
        common::tool("openssl"),
        common::tool("curl"),
    ) else {
        return;
    };
    let dns = ChallTestSrv::start(&challtestsrv);
    let (http01, tlsalpn01) = (free_port(), free_port());
    let authority = Authority::start(dns.dns, http01, tlsalpn01);

    let name = "lego-http.wire.example.com";
    let (leaf, chain) = lego(
        &lego_bin,
        &authority,
        &[name],
        &["--http", "--http.port", &format!("127.0.0.1:{http01}")],
        &[],
    );
    assert_eq!(dns_sans(&leaf), [name]);
    common::check_with_openssl_and_pkilint(&chain, &authority.root, "sslserver", &[]);

    let name = "lego-tls.wire.example.com";
    let (leaf, chain) = lego(
        &lego_bin,
        &authority,
        &[name],
        &["--tls", "--tls.port", &format!("127.0.0.1:{tlsalpn01}")],
        &[],
    );
    assert_eq!(dns_sans(&leaf), [name]);
    common::check_with_openssl_and_pkilint(&chain, &authority.root, "sslserver", &[]);

    // dns-01 for a name and its wildcard: lego's exec provider publishes both TXT values at
    // _acme-challenge.lego-dns… through pebble-challtestsrv's management API.
    let script = authority.path("lego-dns.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# lego exec provider: $1 = present|cleanup, $2 = FQDN, $3 = value\nset -e\ncase \"$1\" in\n  present) {curl} -sSf -X POST -d \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" http://127.0.0.1:{m}/set-txt ;;\n  cleanup) {curl} -sSf -X POST -d \"{{\\\"host\\\":\\\"$2\\\"}}\" http://127.0.0.1:{m}/clear-txt ;;\nesac\n",
            curl = curl.display(),
            m = dns.management,
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let names = ["*.lego-dns.wire.example.com", "lego-dns.wire.example.com"];
    let (leaf, chain) = lego(
        &lego_bin,
        &authority,
        &names,
        &[
            "--dns",
            "exec",
            "--dns.resolvers",
            &dns.dns.to_string(),
            "--dns.disable-cp",
        ],
        &[
            ("EXEC_PATH", script.display().to_string()),
            ("EXEC_POLLING_INTERVAL", "1".into()),
            ("EXEC_PROPAGATION_TIMEOUT", "30".into()),
            // lego solves the two authorizations one after the other, by default 60 s apart.
            ("EXEC_SEQUENCE_INTERVAL", "1".into()),
        ],
    );
    assert_eq!(dns_sans(&leaf), names);
    common::check_with_openssl_and_pkilint(
        &chain,
        &authority.root,
        "sslserver",
        &["pkix.invalid_domain_name_syntax"],
    );
}

#[tokio::test]
async fn instant_acme_obtains_a_certificate_over_http01() {
    use instant_acme::{
        Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
        RetryPolicy,
    };
    let dns = common::responders::DnsResponder::start().await;
    let http = common::responders::HttpResponder::start().await;
    let authority = Authority::start(dns.addr, http.port, free_port());
    let name = "instant.wire.example.com";

    let (account, _) = Account::builder_with_root(&authority.tls_ca)
        .unwrap()
        .create(
            &NewAccount {
                contact: &["mailto:ops@wire.example.com"],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            authority.directory.clone(),
            None,
        )
        .await
        .unwrap();
    let identifiers = [Identifier::Dns(name.to_owned())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .unwrap();
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.unwrap();
        assert_eq!(authz.status, AuthorizationStatus::Pending);
        let mut challenge = authz.challenge(ChallengeType::Http01).unwrap();
        http.challenge(&challenge.token, challenge.key_authorization().as_str());
        challenge.set_ready().await.unwrap();
    }
    let retries = RetryPolicy::new().timeout(Duration::from_secs(30));
    assert_eq!(
        order.poll_ready(&retries).await.unwrap(),
        OrderStatus::Ready
    );

    let key = Signer::ephemeral(KeyAlgorithm::P384).unwrap();
    let tbs = e2ei_core::x509::CsrToBeSigned::with_extensions(
        build_name(&[NameAttribute {
            oid: oid::COMMON_NAME,
            value: name.into(),
        }])
        .unwrap(),
        key.public_key(),
        vec![e2ei_core::x509::subject_alt_name_dns(&[name.to_owned()], false).unwrap()],
    )
    .unwrap();
    let signature = key.sign(tbs.der()).unwrap().to_x509().unwrap();
    let csr = tbs.into_csr(&signature).unwrap().to_der().unwrap();
    order.finalize_csr(&csr).await.unwrap();
    let chain = order.poll_certificate(&retries).await.unwrap();
    let certs = certificates_from_pem_or_der(chain.as_bytes()).unwrap();
    let leaf = Certificate::from_der(&certs[0].to_der().unwrap()).unwrap();
    assert_eq!(dns_sans(&leaf), [name]);
    assert_eq!(
        e2ei_core::x509::certificate_public_key(&leaf).unwrap(),
        *key.public_key()
    );
    common::check_with_openssl_and_pkilint(&chain, &authority.root, "sslserver", &[]);
    // The authority serves, over the same HTTPS listener, the root the chain validates to.
    let https = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&authority.tls_ca).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let roots = https
        .get(format!("{}/roots.pem", authority.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(roots, certificate_to_pem(&authority.root).unwrap());
}
