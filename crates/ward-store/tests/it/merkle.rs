//! The Merkle tree against an independent implementation (ct-merkle) and
//! the store's proofs end to end.

use super::*;
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use proptest::prelude::*;
use ward_store::merkle::{
    Hash, SliceSource, consistency_path, inclusion_path, leaf_hash, root_of,
    verify_consistency_path, verify_inclusion_path,
};
use ward_store::{ProofError, Store, verify_consistency, verify_inclusion};

type Sha = sha2_v011::Sha256;

fn data(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("leaf-{i}").into_bytes()).collect()
}

fn reference(items: &[Vec<u8>]) -> MemoryBackedTree<Sha, Vec<u8>> {
    let mut t = MemoryBackedTree::new();
    for it in items {
        t.push(it.clone());
    }
    t
}

fn concat(path: &[Hash]) -> Vec<u8> {
    path.iter().flatten().copied().collect()
}

#[test]
fn rfc6962_empty_and_single_leaf_vectors() {
    // RFC 6962 test vectors (as used by Certificate Transparency).
    assert_eq!(
        hex::encode(root_of(&[])),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex::encode(leaf_hash(b"")),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn roots_and_proofs_match_ct_merkle(size in 1usize..3000, pick in any::<u64>(), old_pick in any::<u64>()) {
        let items = data(size);
        let leaves: Vec<Hash> = items.iter().map(|d| leaf_hash(d)).collect();
        let t = reference(&items);
        let root = root_of(&leaves);
        let theirs_root = t.root();
        prop_assert_eq!(&root[..], &theirs_root.as_bytes()[..]);

        let idx = (pick % size as u64) as usize;
        let ours = inclusion_path(&mut SliceSource(&leaves), idx as u64, size as u64).unwrap();
        let theirs = t.prove_inclusion(idx);
        prop_assert_eq!(concat(&ours), theirs.as_bytes().to_vec());
        prop_assert!(verify_inclusion_path(&leaves[idx], idx as u64, size as u64, &ours, &root));
        // Any altered input fails.
        let other = leaf_hash(b"not in the tree");
        prop_assert!(!verify_inclusion_path(&other, idx as u64, size as u64, &ours, &root));
        if size > 1 {
            prop_assert!(!verify_inclusion_path(&leaves[idx], ((idx + 1) % size) as u64, size as u64, &ours, &root));
            let mut bad = ours.clone();
            bad[0][0] ^= 1;
            prop_assert!(!verify_inclusion_path(&leaves[idx], idx as u64, size as u64, &bad, &root));
        }

        let old = 1 + (old_pick % size as u64) as usize;
        let old_root = root_of(&leaves[..old]);
        let proof = consistency_path(&mut SliceSource(&leaves), old as u64, size as u64).unwrap();
        if old < size {
            let theirs = t.prove_consistency(size - old);
            prop_assert_eq!(concat(&proof), theirs.as_bytes().to_vec());
        }
        prop_assert!(verify_consistency_path(old as u64, size as u64, &old_root, &root, &proof));
        if old < size {
            let wrong_old = root_of(&leaves[..old - 1]);
            prop_assert!(!verify_consistency_path(old as u64, size as u64, &wrong_old, &root, &proof) || old == 1 && proof.is_empty());
            let mut wrong_new = root;
            wrong_new[5] ^= 1;
            prop_assert!(!verify_consistency_path(old as u64, size as u64, &old_root, &wrong_new, &proof));
        }
    }
}

#[test]
fn store_proofs_verify_offline_and_fail_when_altered() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    for b in 0..6u64 {
        store.append(events(b * 100..b * 100 + 100)).unwrap();
    }
    store.seal_now().unwrap();
    store.append(events(600..650)).unwrap();
    let key = store.public_key();
    for id in [0u64, 1, 255, 256, 257, 399, 599, 600, 649] {
        let p = store.inclusion_proof(&format!("evt-{id:08}")).unwrap();
        assert_eq!(p.leaf_index, id);
        assert!(p.tree_size > id);
        if id >= 600 {
            assert_eq!(
                p.tree_size, 650,
                "a checkpoint covering the record is signed on demand"
            );
        }
        verify_inclusion(&p, &key).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        let back: ward_store::InclusionProof = serde_json::from_str(&json).unwrap();
        verify_inclusion(&back, &key).unwrap();
    }
    let p = store.inclusion_proof("evt-00000300").unwrap();
    let mut bad = p.clone();
    bad.leaf_index = 301;
    assert!(verify_inclusion(&bad, &key).is_err());
    let mut bad = p.clone();
    bad.path[0] = hex::encode([0u8; 32]);
    assert_eq!(verify_inclusion(&bad, &key), Err(ProofError::RootMismatch));
    let mut bad = p.clone();
    bad.event_id = "evt-00000301".into();
    assert!(verify_inclusion(&bad, &key).is_err());
    let other = tempfile::tempdir().unwrap();
    let (o, _) = Store::open(test_config(other.path())).unwrap();
    assert_eq!(
        verify_inclusion(&p, &o.public_key()),
        Err(ProofError::BadSignature)
    );

    for (old, new) in [
        (1, 650),
        (256, 600),
        (300, 650),
        (600, 650),
        (650, 650),
        (17, 18),
    ] {
        let c = store.consistency_proof(old, new).unwrap();
        verify_consistency(&c, &key).unwrap();
        if old < new {
            let mut bad = c.clone();
            bad.old_root = hex::encode([1u8; 32]);
            bad.old_checkpoint = None;
            assert!(verify_consistency(&bad, &key).is_err());
        }
    }
    // Checkpoints signed at segment ends travel with the proof.
    let c = store.consistency_proof(600, 650).unwrap();
    assert!(c.old_checkpoint.is_some() && c.new_checkpoint.is_some());
    assert!(store.consistency_proof(10, 651).is_err());
    assert!(store.consistency_proof(0, 10).is_err());
    assert!(matches!(
        store.inclusion_proof("missing"),
        Err(ward_store::StoreError::NotFound(_))
    ));
}

#[test]
fn proofs_and_checkpoints_signed_at_once_never_fail() {
    // The background signer and proof requests sign the same tree size at
    // the same moment; they once shared a temporary file, and the loser's
    // rename failed.
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(test_config(dir.path())).unwrap();
    // The 50 events whose proofs are asked for are stored before the
    // threads start, so a proof is never asked for an event not yet there.
    store.append(events(0..50)).unwrap();
    let key = store.public_key();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for b in 50..350u64 {
                store.append(events(b..b + 1)).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        for t in 0..3u64 {
            let (store, done, key) = (&store, &done, &key);
            s.spawn(move || {
                let mut n = 0u64;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    if t == 0 {
                        store.checkpoint().unwrap();
                    } else {
                        let id = format!("evt-{:08}", n % 50);
                        let p = store.inclusion_proof(&id).unwrap();
                        verify_inclusion(&p, key).unwrap();
                    }
                    n += 1;
                }
            });
        }
    });
}
