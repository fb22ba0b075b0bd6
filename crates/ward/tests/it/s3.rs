//! `ward archive` to an S3 bucket with Object Lock, verification from
//! another data directory, and the `s3://` witness, against a real S3
//! server (moto in server mode) on 127.0.0.1.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Ward, free_port, python, require, ward_bin};

/// moto's S3 server on a free port, killed on drop.
pub struct S3Server {
    child: Child,
    pub url: String,
}

impl S3Server {
    /// `auth`: check credentials (moto accepts any key otherwise).
    pub fn start(auth: bool) -> S3Server {
        require("moto_server");
        let port = free_port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if auth {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        S3Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `ward verify` of the archive at `dest` with the public `key`, from
    /// the data directory `data_dir`.
    pub fn verify(&self, data_dir: &str, dest: &str, key: &str) -> (bool, String) {
        ward(
            &[
                "verify",
                "--data-dir",
                data_dir,
                "--archive",
                dest,
                "--key",
                key.trim(),
            ],
            &self.url,
            "k",
        )
    }

    /// Runs boto3 code with `s3` (a client of this server) and `ClientError`.
    pub fn boto(&self, code: &str) -> String {
        let script = format!(
            "import boto3, datetime, sys\nfrom botocore.exceptions import ClientError\n\
             s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='k', \
             aws_secret_access_key='s', region_name='us-east-1')\n{code}"
        );
        python(&script, &[&self.url])
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `ward` with the S3 credentials in the environment.
pub fn ward(args: &[&str], endpoint: &str, key_id: &str) -> (bool, String) {
    let out = Command::new(ward_bin())
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", "test-secret-value")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("test-secret-value"), "{text}");
    (out.status.success(), text)
}

fn ingest(w: &Ward, from: usize, n: usize) {
    let body: String = (from..from + n)
        .map(|i| format!("{{\"message\":\"archived event {i}\",\"event\":{{\"category\":\"authentication\"}}}}\n"))
        .collect();
    let (status, v) = w.post("/api/v1/ingest", "application/x-ndjson", body.into_bytes());
    assert_eq!(status, 200, "{v}");
}

/// Waits until the store has a sealed segment.
fn wait_sealed(w: &Ward) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while crate::harness::files_under(&w.data_dir().join("events/segments"), ".seg", None)
        .is_empty()
    {
        assert!(Instant::now() < deadline, "nothing was sealed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn s3_archive_is_locked_verified_elsewhere_and_tampering_is_named() {
    let s3 = S3Server::start(false);
    s3.boto(
        "s3.create_bucket(Bucket='ward-locked', ObjectLockEnabledForBucket=True)\n\
         s3.create_bucket(Bucket='ward-plain')",
    );
    let mut w = Ward::start_with(Some("[store]\nsegment_max_age = \"1s\"\n"), &[]);
    ingest(&w, 0, 300);
    wait_sealed(&w);
    assert!(w.terminate().success(), "{}", w.log());
    let data = w.data_dir();
    let data = data.to_str().unwrap();
    let dest = "s3://ward-locked/node-a";

    let (ok, text) = ward(&["archive", "--data-dir", data, "--to", dest], &s3.url, "k");
    assert!(ok, "{text}");
    assert!(text.contains("0 already present"), "{text}");
    assert!(!text.contains(" 0 segments"), "{text}");
    // A second run finds everything there.
    let (ok, text) = ward(&["archive", "--data-dir", data, "--to", dest], &s3.url, "k");
    assert!(ok, "{text}");
    assert!(text.contains(": 0 objects written (0 bytes)"), "{text}");

    // Node B: another (empty) data directory, only the public key.
    let key = String::from_utf8(
        Command::new(ward_bin())
            .args(["key", "--data-dir", data])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let other = tempfile::tempdir().unwrap();
    let other = other.path().to_str().unwrap();
    let verify = |key: &str| s3.verify(other, dest, key);
    let (ok, text) = verify(&key);
    assert!(ok, "{text}");
    assert!(text.contains("300 records"), "{text}");

    // The test server lets COMPLIANCE retention be shortened (S3 refuses
    // it; an account or a server that allows it would let a segment be
    // deleted early): verification names the segment whose lock no longer
    // covers its retention, and passes again once it is extended back.
    let out = s3.boto(
        "import datetime\n\
         r = s3.list_objects_v2(Bucket='ward-locked', Prefix='node-a/segments/')\n\
         key = sorted(o['Key'] for o in r['Contents'] if o['Key'].endswith('.seg'))[-1]\n\
         old = s3.head_object(Bucket='ward-locked', Key=key)['ObjectLockRetainUntilDate']\n\
         soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)\n\
         s3.put_object_retention(Bucket='ward-locked', Key=key, Retention={'Mode': 'COMPLIANCE', 'RetainUntilDate': soon})\n\
         print('until', s3.head_object(Bucket='ward-locked', Key=key)['ObjectLockRetainUntilDate'].year)\n\
         print('old', old.isoformat())\n\
         print('key', key)",
    );
    let short = out
        .lines()
        .find_map(|l| l.strip_prefix("key "))
        .unwrap()
        .to_owned();
    let (ok, text) = verify(&key);
    assert!(!ok, "{out}\n{text}");
    assert!(
        text.contains(&format!(
            "RetentionShortened in s3://ward-locked/{short}: locked only until"
        )),
        "{short}: {text}"
    );
    assert_eq!(text.matches("RetentionShortened").count(), 1, "{text}");
    let old = out.lines().find_map(|l| l.strip_prefix("old ")).unwrap();
    s3.boto(&format!(
        "import datetime\n\
         s3.put_object_retention(Bucket='ward-locked', Key='{short}', Retention={{'Mode': 'COMPLIANCE', 'RetainUntilDate': datetime.datetime.fromisoformat('{old}')}})"
    ));
    let (ok, text) = verify(&key);
    assert!(ok, "{text}");

    // The bucket refuses deletion; an overwrite makes a new version and
    // keeps the locked one; every object carries COMPLIANCE retention.
    let out = s3.boto(
        "r = s3.list_objects_v2(Bucket='ward-locked', Prefix='node-a/segments/')\n\
         key = [o['Key'] for o in r['Contents'] if o['Key'].endswith('.seg')][0]\n\
         v = s3.head_object(Bucket='ward-locked', Key=key)\n\
         print('mode', v['ObjectLockMode'], v['ObjectLockRetainUntilDate'].year)\n\
         try:\n    s3.delete_object(Bucket='ward-locked', Key=key, VersionId=v['VersionId'])\n    print('deleted')\n\
         except ClientError as e:\n    print('delete refused', e.response['Error']['Code'])\n\
         body = bytearray(s3.get_object(Bucket='ward-locked', Key=key)['Body'].read())\n\
         body[len(body)//2] ^= 1\n\
         s3.put_object(Bucket='ward-locked', Key=key, Body=bytes(body))\n\
         vs = [x for x in s3.list_object_versions(Bucket='ward-locked', Prefix=key)['Versions'] if x['Key'] == key]\n\
         print('versions', len(vs))\n\
         print('key', key)",
    );
    assert!(out.contains("mode COMPLIANCE"), "{out}");
    assert!(out.contains("delete refused AccessDenied"), "{out}");
    assert!(out.contains("versions 2"), "{out}");
    let seg = out
        .lines()
        .find_map(|l| l.strip_prefix("key "))
        .unwrap()
        .to_owned();
    let (ok, text) = verify(&key);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("s3://ward-locked/{seg}")),
        "{seg}: {text}"
    );
    // Re-archiving does not overwrite the changed object: a conflict.
    let (ok, text) = ward(&["archive", "--data-dir", data, "--to", dest], &s3.url, "k");
    assert!(!ok, "{text}");

    // A bucket without Object Lock, a missing bucket, no server.
    let (ok, text) = ward(
        &["archive", "--data-dir", data, "--to", "s3://ward-plain/x"],
        &s3.url,
        "k",
    );
    assert!(!ok, "{text}");
    assert!(text.contains("does not have Object Lock enabled"), "{text}");
    assert!(text.contains("--allow-without-object-lock"), "{text}");
    let (ok, text) = ward(
        &[
            "archive",
            "--data-dir",
            data,
            "--to",
            "s3://ward-plain/x",
            "--allow-without-object-lock",
        ],
        &s3.url,
        "k",
    );
    assert!(ok, "{text}");
    let (ok, text) = ward(
        &["archive", "--data-dir", data, "--to", "s3://ward-nothing/x"],
        &s3.url,
        "k",
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("the bucket ward-nothing does not exist"),
        "{text}"
    );
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (ok, text) = ward(&["archive", "--data-dir", data, "--to", dest], &closed, "k");
    assert!(!ok, "{text}");
    assert!(text.contains("cannot reach the S3 endpoint"), "{text}");

    // A server that checks credentials refuses an unknown key.
    let strict = S3Server::start(true);
    let (ok, text) = ward(
        &["archive", "--data-dir", data, "--to", dest],
        &strict.url,
        "AKIDUNKNOWN",
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("refused the credentials (InvalidAccessKeyId)"),
        "{text}"
    );
    assert!(text.contains("AKIDUNKNOWN"), "{text}");
}

#[test]
fn s3_witness_catches_a_data_directory_put_back() {
    let s3 = S3Server::start(false);
    s3.boto("s3.create_bucket(Bucket='ward-witness', ObjectLockEnabledForBucket=True)");
    let config = "[store]\nwitness = \"s3://ward-witness/node-a\"\n";
    let env = [
        ("AWS_ENDPOINT_URL", s3.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "k"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret-value"),
    ];
    let mut w = Ward::start_with(Some(config), &env);
    ingest(&w, 0, 40);
    assert!(w.terminate().success(), "{}", w.log());
    let data = w.data_dir();
    let outside = tempfile::tempdir().unwrap();
    let old = outside.path().join("old-copy");
    crate::harness::copy_tree(&data, &old);
    w.spawn();
    ingest(&w, 40, 60);
    assert!(w.terminate().success(), "{}", w.log());
    let d = data.to_str().unwrap();
    let wit = "s3://ward-witness/node-a";
    let (ok, text) = ward(&["verify", "--data-dir", d, "--witness", wit], &s3.url, "k");
    assert!(ok, "{text}");
    assert!(
        text.contains("witnessed checkpoints read from s3://ward-witness/node-a"),
        "{text}"
    );
    let out = s3.boto(
        "r = s3.list_objects_v2(Bucket='ward-witness', Prefix='node-a/')\n\
         k = r['Contents'][-1]['Key']\n\
         print(s3.head_object(Bucket='ward-witness', Key=k)['ObjectLockMode'])",
    );
    assert!(out.contains("COMPLIANCE"), "{out}");

    std::fs::remove_dir_all(&data).unwrap();
    std::fs::rename(&old, &data).unwrap();
    let (ok, text) = ward(&["verify", "--data-dir", d], &s3.url, "k");
    assert!(ok, "{text}");
    let (ok, text) = ward(&["verify", "--data-dir", d, "--witness", wit], &s3.url, "k");
    assert!(!ok, "{text}");
    assert!(text.contains("witness:s3://ward-witness/node-a/"), "{text}");
}
