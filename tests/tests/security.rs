//! Proves Kafka SASL SCRAM-SHA-512 against a real broker that requires it (tansu started with
//! `--authentication`, its user created with `tansu user create`): with a wrong password `sluice check`
//! fails with a line saying the broker refused the login, and `sluice run` waits for the broker
//! instead of streaming, so nothing is lost; with the right password every row arrives, and `sluice
//! check` passes. Neither password ever shows in stdout, stderr or `/metrics`.

use std::path::Path;
use std::time::Duration;

use sluice_tests::daemon::{
    CommandOutput, DaemonProcess, config_toml, current_position, decode_record, reference_schema, run_sluice,
    with_metrics_address,
};
use sluice_tests::harness::{Broker, MariaDb, SaslLogin, consume, http_get};

const RIGHT_PASSWORD: &str = "scram-right-secret-4711";
const WRONG_PASSWORD: &str = "scram-wrong-secret-0815";
const CONSUME_TIMEOUT: Duration = Duration::from_secs(60);

/// Fails the test if either password shows in `text`.
fn assert_no_password(what: &str, text: &str) {
    for secret in [RIGHT_PASSWORD, WRONG_PASSWORD] {
        assert!(!text.contains(secret), "the password leaked into {what}:\n{text}");
    }
}

/// A daemon config logging in with the password in `password_file`.
fn config(db: &MariaDb, broker: &Broker, dir: &Path, start: &str, password_file: &Path) -> String {
    config_toml(
        db,
        broker,
        &dir.join("checkpoint.json"),
        start,
        &["shop.*"],
        "changes",
        &[],
    ) + &format!(
        "\n[snapshot]\nmode = \"never\"\n\n[kafka.sasl]\nmechanism = \"{}\"\nusername = \"{}\"\npassword_file = \"{}\"\n",
        SaslLogin::MECHANISM,
        broker.login().expect("an authenticating broker").username,
        password_file.display()
    )
}

fn check(config_path: &Path) -> anyhow::Result<CommandOutput> {
    let output =
        tokio::task::block_in_place(|| run_sluice(&["check".as_ref(), "--config".as_ref(), config_path.as_os_str()]))?;
    assert_no_password("the output of sluice check", &(output.stdout.clone() + &output.stderr));
    Ok(output)
}

fn broker_line(output: &CommandOutput) -> &str {
    output
        .stdout
        .lines()
        .find(|line| line.get(6..).is_some_and(|rest| rest.starts_with("Kafka broker")))
        .unwrap_or_else(|| panic!("no Kafka broker line:\n{}", output.stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_sha_512_streams_with_the_right_password_and_a_wrong_one_fails_clearly_losing_nothing()
-> anyhow::Result<()> {
    let login = SaslLogin {
        username: "sluice-producer".into(),
        password: RIGHT_PASSWORD.into(),
    };
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start_with_login(login));
    let (db, broker) = (db?, broker?);
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(40))",
    ])
    .await?;
    let start = current_position(&db).await?;
    let dir = tempfile::tempdir()?;
    let right_file = dir.path().join("kafka-password");
    let wrong_file = dir.path().join("kafka-wrong-password");
    std::fs::write(&right_file, format!("{RIGHT_PASSWORD}\n"))?;
    std::fs::write(&wrong_file, format!("{WRONG_PASSWORD}\n"))?;

    // A wrong password: the check names the refused login and fails.
    let wrong_path = dir.path().join("wrong.toml");
    std::fs::write(&wrong_path, config(&db, &broker, dir.path(), &start, &wrong_file))?;
    let refused = check(&wrong_path)?;
    assert_eq!(refused.code, Some(1), "{}\n{}", refused.stdout, refused.stderr);
    let line = broker_line(&refused);
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(
        line.contains("refused the connection as SASL_PLAINTEXT (SCRAM-SHA-512 as sluice-producer)"),
        "{}",
        refused.stdout
    );
    assert!(refused.stdout.contains("check kafka.sasl"), "{}", refused.stdout);

    // ... and the daemon waits for the broker instead of streaming: nothing is sent, nothing skipped.
    let mut waiting = DaemonProcess::start(&wrong_path)?;
    db.execute_all(&[
        "INSERT INTO shop.orders VALUES (1, 'while refused')",
        "INSERT INTO shop.orders VALUES (2, 'while refused')",
    ])
    .await?;
    assert!(
        tokio::task::block_in_place(|| waiting.wait_for_lines("Authentication", 1, Duration::from_secs(30))),
        "no authentication error logged:\n{}",
        waiting.output()
    );
    assert!(waiting.is_running(), "the daemon gave up:\n{}", waiting.output());
    assert!(
        consume(&broker.bootstrap_servers(), "changes", 1, Duration::from_secs(3))
            .await?
            .is_empty()
    );
    waiting.terminate()?;
    let (code, stderr) = tokio::task::block_in_place(|| waiting.wait())?;
    assert_eq!(code, Some(0), "{stderr}");
    assert_no_password("the log of the refused daemon", &stderr);

    // The right password: the check passes and every row arrives, those inserted while refused too.
    let right_text = config(&db, &broker, dir.path(), &start, &right_file);
    let (right_text, metrics_address) = with_metrics_address(&right_text)?;
    let right_path = dir.path().join("right.toml");
    std::fs::write(&right_path, &right_text)?;
    let passed = check(&right_path)?;
    assert_eq!(passed.code, Some(0), "{}\n{}", passed.stdout, passed.stderr);
    assert!(broker_line(&passed).starts_with("PASS"), "{}", passed.stdout);

    let mut daemon = DaemonProcess::start(&right_path)?;
    db.execute("INSERT INTO shop.orders VALUES (3, 'after login')").await?;
    let messages = consume(&broker.bootstrap_servers(), "changes", 3, CONSUME_TIMEOUT).await?;
    let schema = reference_schema()?;
    let mut ids: Vec<String> = messages
        .iter()
        .map(|message| {
            let record = decode_record(&schema, &message.payload).expect("a DTS record");
            record.after.expect("an insert")[0].clone().expect("an id")
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["1", "2", "3"], "{}", daemon.output());

    let (status, metrics) = http_get(&metrics_address, "/metrics").await?;
    assert_eq!(status, 200);
    assert!(metrics.contains("sluice_messages_out_total"), "{metrics}");
    assert_no_password("/metrics", &metrics);
    assert!(daemon.is_running());
    daemon.terminate()?;
    let (code, stderr) = tokio::task::block_in_place(|| daemon.wait())?;
    assert_eq!(code, Some(0), "{stderr}");
    assert_no_password("the daemon's log", &stderr);
    Ok(())
}

/// Makes a CA and a server certificate for 127.0.0.1 signed by it, with the `openssl` command.
fn make_certificates(dir: &Path) -> anyhow::Result<()> {
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=sluice test CA",
    ])?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ])?;
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ])
}

/// Proves TLS to the source: a MariaDB whose sluice user must connect over TLS (`REQUIRE SSL`)
/// refuses the login without `[source.tls]`, and with it (the server's certificate checked against
/// the test CA and its host name) `sluice check` logs in and the daemon streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_over_tls_verifies_the_server_and_streams() -> anyhow::Result<()> {
    let certificates = tempfile::tempdir()?;
    make_certificates(certificates.path())?;
    let file = |name: &str| certificates.path().join(name).display().to_string();
    let (db, broker) = tokio::join!(
        MariaDb::start_with(sluice_tests::harness::MariaDbOptions {
            extra_args: vec![
                format!("--ssl-ca={}", file("ca.pem")),
                format!("--ssl-cert={}", file("server.pem")),
                format!("--ssl-key={}", file("server.key")),
            ],
            ..Default::default()
        }),
        Broker::start()
    );
    let (db, broker) = (db?, broker?);
    let (user, _) = db.replication_user();
    db.execute_all(&[
        &format!("ALTER USER '{user}'@'%' REQUIRE SSL"),
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(40))",
    ])
    .await?;
    let start = current_position(&db).await?;
    let dir = tempfile::tempdir()?;
    let plain = config_toml(
        &db,
        &broker,
        &dir.path().join("checkpoint.json"),
        &start,
        &["shop.*"],
        "changes",
        &[],
    ) + "\n[snapshot]\nmode = \"never\"\n";
    let plain_path = dir.path().join("plain.toml");
    std::fs::write(&plain_path, &plain)?;
    let refused =
        tokio::task::block_in_place(|| run_sluice(&["check".as_ref(), "--config".as_ref(), plain_path.as_os_str()]))?;
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    assert!(
        refused.stdout.lines().any(|line| line.starts_with("FAIL  connection")),
        "{}",
        refused.stdout
    );

    let tls = plain.replacen(
        "\n[kafka]",
        &format!(
            "\n[source.tls]\nmode = \"verify_identity\"\nca_file = \"{}\"\n\n[kafka]",
            file("ca.pem")
        ),
        1,
    );
    let tls_path = dir.path().join("tls.toml");
    std::fs::write(&tls_path, &tls)?;
    let passed =
        tokio::task::block_in_place(|| run_sluice(&["check".as_ref(), "--config".as_ref(), tls_path.as_os_str()]))?;
    assert!(
        passed.stdout.lines().any(|line| line.starts_with("PASS  connection")),
        "{}\n{}",
        passed.stdout,
        passed.stderr
    );
    assert_eq!(passed.code, Some(0), "{}", passed.stdout);

    let mut daemon = DaemonProcess::start(&tls_path)?;
    db.execute("INSERT INTO shop.orders VALUES (1, 'over tls')").await?;
    let messages = consume(&broker.bootstrap_servers(), "changes", 1, CONSUME_TIMEOUT).await?;
    assert_eq!(messages.len(), 1, "{}", daemon.output());
    assert!(daemon.is_running());
    daemon.terminate()?;
    let (code, stderr) = tokio::task::block_in_place(|| daemon.wait())?;
    assert_eq!(code, Some(0), "{stderr}");
    Ok(())
}
