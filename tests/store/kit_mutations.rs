//! The conformance kit's own mutation test: for each contract, a deliberately broken store
//! that the kit must reject, so nobody can weaken a check silently.
//!
//! [`Broken`] wraps a `MemoryStore` and misbehaves in exactly one way, its [`Fault`]: each fault
//! is a plausible misreading of the trait docs by someone writing a PostgreSQL or Redis store.
//! [`REJECTED`] pins every fault to a check that must catch it. For a deterministic check the
//! runner of its group must panic *and* so must that check alone, so that weakening the check
//! is noticed even when a later check of the runner would still catch the fault. A check that
//! races tasks gets up to [`ATTEMPTS`] runs on fresh stores and must panic in one of them.
//!
//! Faults the kit does not catch yet are in [`KNOWN_ESCAPES`] with the reason; that test fails
//! as soon as the kit catches one of them, so the entry moves to [`REJECTED`].

use std::any::Any;
use std::sync::Arc;

use token_engine::store::conformance;

use crate::broken::{ATTEMPTS, Broken, ESCAPE_RUNS, Fault, Field, Match, Optional, TIME_LIMIT};

/// A runner of the kit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runner {
    Token,
    Code,
    Device,
    Replay,
    Client,
}

impl Runner {
    /// The runner on fresh stores with `fault`.
    async fn run(self, fault: Fault) {
        let make = move || async move { Broken::new(fault) };
        match self {
            Runner::Token => conformance::run_token_store(make, Broken::other).await,
            Runner::Code => conformance::run_code_store(make, Broken::other).await,
            Runner::Device => conformance::run_device_store(make, Broken::other).await,
            Runner::Replay => conformance::run_replay_store(make, Broken::other).await,
            Runner::Client => conformance::run_client_store(make, Broken::other).await,
        }
    }
}

/// A check of the kit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    FamilyRoundTrip,
    CreateIsInsertIfAbsent,
    CompareAndSwap,
    ListAndRevokeBySubject,
    SubjectsMatchExactly,
    ListingAndRevocationAreNotCapped,
    PolicyVersions,
    Expiry,
    CompareAndSwapIsAtomicAcrossThreads,
    NoUsableTokenAtRest,
    ConcurrentRefreshWithGrace,
    ConcurrentRefreshWithoutGrace,
    RevokeSubjectRacesRefresh,
    Codes,
    CodesAreTakenOnce,
    DeviceRecords,
    ReplayIds,
    DeviceRecordsSwapOnce,
    ReplayIdsAreInsertedOnce,
    ConcurrentCodeExchange,
    ConcurrentDevicePolls,
    Clients,
    ClientsAreInsertedOnce,
}

impl Check {
    const ALL: [Check; 23] = [
        Check::Clients,
        Check::ClientsAreInsertedOnce,
        Check::CompareAndSwapIsAtomicAcrossThreads,
        Check::ConcurrentCodeExchange,
        Check::ConcurrentDevicePolls,
        Check::DeviceRecordsSwapOnce,
        Check::ReplayIdsAreInsertedOnce,
        Check::FamilyRoundTrip,
        Check::CreateIsInsertIfAbsent,
        Check::CompareAndSwap,
        Check::ListAndRevokeBySubject,
        Check::SubjectsMatchExactly,
        Check::ListingAndRevocationAreNotCapped,
        Check::PolicyVersions,
        Check::Expiry,
        Check::NoUsableTokenAtRest,
        Check::ConcurrentRefreshWithGrace,
        Check::ConcurrentRefreshWithoutGrace,
        Check::RevokeSubjectRacesRefresh,
        Check::Codes,
        Check::CodesAreTakenOnce,
        Check::DeviceRecords,
        Check::ReplayIds,
    ];

    fn runner(self) -> Runner {
        match self {
            Check::Codes | Check::CodesAreTakenOnce | Check::ConcurrentCodeExchange => Runner::Code,
            Check::DeviceRecords | Check::DeviceRecordsSwapOnce | Check::ConcurrentDevicePolls => {
                Runner::Device
            }
            Check::ReplayIds | Check::ReplayIdsAreInsertedOnce => Runner::Replay,
            Check::Clients | Check::ClientsAreInsertedOnce => Runner::Client,
            _ => Runner::Token,
        }
    }

    /// Whether the check races tasks, so a fault may slip through one run.
    fn races(self) -> bool {
        matches!(
            self,
            Check::CompareAndSwapIsAtomicAcrossThreads
                | Check::ConcurrentRefreshWithGrace
                | Check::ConcurrentRefreshWithoutGrace
                | Check::RevokeSubjectRacesRefresh
                | Check::CodesAreTakenOnce
                | Check::ConcurrentCodeExchange
                | Check::ConcurrentDevicePolls
                | Check::DeviceRecordsSwapOnce
                | Check::ReplayIdsAreInsertedOnce
                | Check::ClientsAreInsertedOnce
        )
    }

    /// The check alone on a fresh store with `fault`.
    async fn run(self, fault: Fault) {
        use conformance as c;
        let store = Broken::new(fault);
        let two = || (Arc::new(store.clone()), Arc::new(store.instance()));
        match self {
            Check::FamilyRoundTrip => c::family_round_trip(&store).await,
            Check::CreateIsInsertIfAbsent => c::create_is_insert_if_absent(&store).await,
            Check::CompareAndSwap => c::compare_and_swap(&store).await,
            Check::ListAndRevokeBySubject => c::list_and_revoke_by_subject(&store).await,
            Check::SubjectsMatchExactly => c::subjects_match_exactly(&store).await,
            Check::ListingAndRevocationAreNotCapped => {
                c::listing_and_revocation_are_not_capped(&store).await;
            }
            Check::PolicyVersions => c::policy_versions(&store).await,
            Check::Expiry => c::expiry(&store).await,
            Check::CompareAndSwapIsAtomicAcrossThreads => {
                let (a, b) = two();
                c::compare_and_swap_is_atomic_across_threads(a, b).await;
            }
            Check::NoUsableTokenAtRest => c::no_usable_token_at_rest(Arc::new(store)).await,
            Check::ConcurrentRefreshWithGrace => {
                let (a, b) = two();
                c::concurrent_refresh_with_grace(a, b).await;
            }
            Check::ConcurrentRefreshWithoutGrace => {
                let (a, b) = two();
                c::concurrent_refresh_without_grace(a, b).await;
            }
            Check::RevokeSubjectRacesRefresh => {
                let (a, b) = two();
                c::revoke_subject_races_refresh(a, b).await;
            }
            Check::Codes => c::codes(&store).await,
            Check::CodesAreTakenOnce => {
                let (a, b) = two();
                c::codes_are_taken_once(a, b).await;
            }
            Check::DeviceRecords => c::device_records(&store).await,
            Check::ReplayIds => c::replay_ids(&store).await,
            Check::DeviceRecordsSwapOnce => {
                let (a, b) = two();
                c::device_records_swap_once(a, b).await;
            }
            Check::ConcurrentCodeExchange => {
                let (a, b) = two();
                c::concurrent_code_exchange(a, b).await;
            }
            Check::ConcurrentDevicePolls => {
                let (a, b) = two();
                c::concurrent_device_polls(a, b).await;
            }
            Check::ReplayIdsAreInsertedOnce => {
                let (a, b) = two();
                c::replay_ids_are_inserted_once(a, b).await;
            }
            Check::Clients => c::clients(&store).await,
            Check::ClientsAreInsertedOnce => {
                let (a, b) = two();
                c::clients_are_inserted_once(a, b).await;
            }
        }
    }
}

/// Each check with the broken stores it must reject.
const REJECTED: &[(Check, &[Fault])] = &[
    (Check::FamilyRoundTrip, &[Fault::ListHidesExpired]),
    (Check::CompareAndSwap, &[Fault::CasKeeps(Field::Subject)]),
    (
        Check::SubjectsMatchExactly,
        &[
            Fault::RevokeMatches(Match::Like),
            Fault::ListMatches(Match::Glob),
            Fault::RevokeMatches(Match::Glob),
        ],
    ),
    (
        Check::DeviceRecords,
        &[
            Fault::DeviceCasCreatesMissing,
            Fault::PayloadAsText,
            Fault::DeviceStateAsApprovedFlag,
        ],
    ),
    (
        Check::DeviceRecordsSwapOnce,
        &[Fault::DeviceCasCheckThenAct],
    ),
    // Through real engines: a non-atomic take or device swap hands out tokens twice.
    (Check::ConcurrentCodeExchange, &[Fault::TakeCheckThenAct]),
    (
        Check::ConcurrentDevicePolls,
        &[Fault::DeviceCasCheckThenAct],
    ),
    (
        Check::ReplayIdsAreInsertedOnce,
        &[Fault::ReplayCheckThenInsert],
    ),
    (
        Check::RevokeSubjectRacesRefresh,
        &[Fault::RevokeReadModifyWrite],
    ),
    (
        Check::FamilyRoundTrip,
        &[
            Fault::CreateDrops(Optional::Tenant),
            Fault::CreateDrops(Optional::DeviceId),
            Fault::CreateDrops(Optional::DpopJkt),
            Fault::CreateDrops(Optional::CertThumbprint),
            Fault::CreateDrops(Optional::Claims),
            Fault::CreateDrops(Optional::Resources),
            Fault::CreateDrops(Optional::Acr),
            Fault::VersionAsSaturatingI64,
            Fault::GenerationAsSaturatingI32,
            Fault::TimesAsI32,
            Fault::NonBmpAsQuestionMark,
            Fault::ScopeAsVarchar255,
            Fault::ListDuplicates,
            Fault::RevokedAccessKeepsOne,
            Fault::AccessNotBeforeAsI32,
        ],
    ),
    (
        Check::CreateIsInsertIfAbsent,
        &[Fault::CreateOverwrites, Fault::CreateAlwaysInserted],
    ),
    (
        Check::CompareAndSwap,
        &[
            Fault::CasKeeps(Field::ClientId),
            Fault::CasKeeps(Field::Scope),
            Fault::CasKeeps(Field::Tenant),
            Fault::CasKeeps(Field::DeviceId),
            Fault::CasKeeps(Field::DpopJkt),
            Fault::CasKeeps(Field::CertThumbprint),
            Fault::CasKeeps(Field::Claims),
            Fault::CasKeeps(Field::Resources),
            Fault::CasKeeps(Field::Acr),
            Fault::CasKeeps(Field::AuthTime),
            Fault::CasKeeps(Field::CreatedAt),
            Fault::CasKeeps(Field::AbsoluteExpiresAt),
            Fault::CasKeeps(Field::LastUsedAt),
            Fault::CasKeeps(Field::Policy),
            Fault::CasKeeps(Field::Generation),
            Fault::CasKeeps(Field::KeyId),
            Fault::CasKeeps(Field::CurrentSecretHash),
            Fault::CasKeeps(Field::RotatedAt),
            Fault::CasKeeps(Field::State),
            Fault::CasKeeps(Field::Version),
            Fault::CasKeeps(Field::AccessOnly),
            Fault::CasKeeps(Field::RevokedAccess),
            Fault::CasKeeps(Field::AccessNotBefore),
            Fault::CasIgnoresVersion,
            Fault::CasCreatesMissing,
            Fault::ListStale,
            Fault::LoadStale,
        ],
    ),
    (
        Check::ListAndRevokeBySubject,
        &[
            Fault::RevokeInSideTable,
            Fault::RevokeRevokesRevoked,
            Fault::RevokeCountsAll,
            Fault::RevokeKeepsVersion,
        ],
    ),
    (
        Check::SubjectsMatchExactly,
        &[
            Fault::ListMatches(Match::CaseInsensitive),
            Fault::ListMatches(Match::Prefix),
            Fault::ListMatches(Match::Normalizing),
            Fault::ListMatches(Match::Trimming),
            Fault::ListMatches(Match::Like),
            Fault::RevokeMatches(Match::CaseInsensitive),
            Fault::RevokeMatches(Match::Prefix),
            Fault::RevokeMatches(Match::Normalizing),
            Fault::RevokeMatches(Match::Trimming),
        ],
    ),
    (
        Check::ListingAndRevocationAreNotCapped,
        &[Fault::ListCapped, Fault::RevokeCapped],
    ),
    (
        Check::PolicyVersions,
        &[
            Fault::PolicyTenantCaseInsensitive,
            Fault::PolicyEmptyTenantIsGlobal,
            Fault::PolicyRemoveIgnored,
            Fault::PolicyOnlyUpward,
        ],
    ),
    (
        Check::Expiry,
        &[
            Fault::SweepRevoked,
            Fault::SweepAnHourEarly,
            Fault::SweepCountsNothing,
        ],
    ),
    // Raw swaps on OS threads: a non-atomic swap fails it whether or not it awaits between
    // its read and its write (`a_non_atomic_swap_is_rejected_every_run` requires every run).
    (
        Check::CompareAndSwapIsAtomicAcrossThreads,
        &[
            Fault::CasCheckThenActNoAwait,
            Fault::CasCheckThenAct,
            Fault::CasLockedPerInstance,
        ],
    ),
    (
        Check::ConcurrentRefreshWithGrace,
        &[Fault::CasCheckThenAct, Fault::CasLockedPerInstance],
    ),
    (
        Check::ConcurrentRefreshWithoutGrace,
        &[Fault::CasCheckThenAct, Fault::CasLockedPerInstance],
    ),
    (
        Check::RevokeSubjectRacesRefresh,
        &[Fault::CasCheckThenAct, Fault::RevokeBySnapshot],
    ),
    (
        Check::Codes,
        &[
            Fault::TakeKeepsCode,
            Fault::InsertCodeOverwrites,
            Fault::GroupTimesAsI32,
            Fault::PayloadAsText,
            Fault::SweepAnHourEarly,
            Fault::SweepFamiliesOnly,
        ],
    ),
    (Check::CodesAreTakenOnce, &[Fault::TakeCheckThenAct]),
    (
        Check::DeviceRecords,
        &[
            Fault::UserCodeNotUnique,
            Fault::DeviceInsertOverwrites,
            Fault::DeviceCasIgnoresVersion,
            Fault::UserCodeCaseInsensitive,
            Fault::GroupTimesAsI32,
            Fault::SweepAnHourEarly,
            Fault::SweepFamiliesOnly,
        ],
    ),
    (
        Check::ReplayIds,
        &[
            Fault::ReplayAlwaysInserted,
            Fault::SweepAnHourEarly,
            Fault::SweepFamiliesOnly,
        ],
    ),
    (
        Check::Clients,
        &[
            Fault::ClientInsertOverwrites,
            Fault::ClientIdCaseInsensitive,
            Fault::ClientPayloadAsText,
            Fault::ClientIssuedAtAsI32,
            Fault::ClientSwept,
        ],
    ),
    (
        Check::ClientsAreInsertedOnce,
        &[Fault::ClientInsertCheckThenAct],
    ),
];

/// Faults the kit does not catch yet: the runner that should reject each, and why it does not.
/// A fault counts as caught when the runner rejects it in most of [`ESCAPE_RUNS`] runs (one
/// of them is caught by a rare race).
const KNOWN_ESCAPES: &[(Fault, Runner, &str)] = &[];

/// What became of one run.
enum Outcome {
    /// The kit panicked: the first line of its message.
    Rejected(String),
    /// The kit passed.
    Accepted,
    /// The run did not finish within [`TIME_LIMIT`].
    Hung,
}

/// Run `run` in its own task (the kit's checks spawn tasks and panic like assertions).
async fn outcome(run: impl Future<Output = ()> + Send + 'static) -> Outcome {
    let task = tokio::spawn(run);
    let abort = task.abort_handle();
    match tokio::time::timeout(TIME_LIMIT, task).await {
        Ok(Ok(())) => Outcome::Accepted,
        Ok(Err(e)) => {
            assert!(e.is_panic(), "the run was cancelled: {e}");
            Outcome::Rejected(panic_message(&*e.into_panic()))
        }
        Err(_) => {
            abort.abort();
            Outcome::Hung
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let message = match payload.downcast_ref::<String>() {
        Some(s) => s.as_str(),
        None => payload
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or("(no message)"),
    };
    message.lines().next().unwrap_or_default().to_owned()
}

/// Why the kit failed to reject `fault` through `check`, or `None` if it rejected it as it
/// must: the runner and the check alone for a deterministic check, one of [`ATTEMPTS`] runs
/// of a racing check.
async fn escape(fault: Fault, check: Check) -> Option<String> {
    if check.races() {
        for attempt in 1..=ATTEMPTS {
            match outcome(check.run(fault)).await {
                Outcome::Rejected(m) => {
                    println!("{fault:?} rejected by {check:?} at attempt {attempt}: {m}");
                    return None;
                }
                Outcome::Hung => return Some(format!("{check:?} hung")),
                Outcome::Accepted => {}
            }
        }
        return Some(format!("{check:?} accepted it {ATTEMPTS} times"));
    }
    let runner = check.runner();
    match outcome(runner.run(fault)).await {
        Outcome::Rejected(m) => println!("{fault:?} rejected by {runner:?} runner: {m}"),
        Outcome::Accepted => return Some(format!("the {runner:?} runner accepted it")),
        Outcome::Hung => return Some(format!("the {runner:?} runner hung")),
    }
    match outcome(check.run(fault)).await {
        Outcome::Rejected(m) => {
            println!("{fault:?} rejected by {check:?}: {m}");
            None
        }
        Outcome::Accepted => Some(format!("{check:?} alone accepted it")),
        Outcome::Hung => Some(format!("{check:?} alone hung")),
    }
}

/// Every pair of [`REJECTED`] whose check satisfies `which`; fails naming every escape.
async fn require_rejections(which: impl Fn(Check) -> bool) {
    let mut escaped = Vec::new();
    for &(check, faults) in REJECTED.iter().filter(|(c, _)| which(*c)) {
        for &fault in faults {
            if let Some(why) = escape(fault, check).await {
                escaped.push(format!("{fault:?} (pinned to {check:?}): {why}"));
            }
        }
    }
    assert!(
        escaped.is_empty(),
        "broken stores the kit accepted:\n  {}",
        escaped.join("\n  ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_without_a_fault_passes_every_runner() {
    conformance::run_all(|| async { Broken::new(Fault::None) }, Broken::other).await;
    conformance::run_client_store(|| async { Broken::new(Fault::None) }, Broken::other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_rejects_every_broken_store() {
    require_rejections(|c| !c.races()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_rejects_every_racy_store() {
    require_rejections(Check::races).await;
}

/// Runs of [`a_non_atomic_swap_is_rejected_every_run`]: each must reject.
const EVERY_RUN: usize = 20;

/// A compare-and-swap that reads, compares and writes without atomicity, with no `.await`
/// in between, is rejected by the kit on every run, not one run in many: the OS-thread race
/// (`compare_and_swap_is_atomic_across_threads`) and the whole token runner, each
/// [`EVERY_RUN`] times on fresh stores. So is one made atomic by a lock inside the store
/// object ([`Fault::CasLockedPerInstance`]): it passes any race over one instance, and
/// accepted the same refresh token twice across two processes in strict mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_non_atomic_swap_is_rejected_every_run() {
    for fault in [
        Fault::CasCheckThenActNoAwait,
        Fault::CasCheckThenAct,
        Fault::CasLockedPerInstance,
    ] {
        for run in 1..=EVERY_RUN {
            match outcome(Check::CompareAndSwapIsAtomicAcrossThreads.run(fault)).await {
                Outcome::Rejected(m) => println!("{fault:?} run {run}: {m}"),
                Outcome::Accepted => panic!("{fault:?}: the thread race accepted it at run {run}"),
                Outcome::Hung => panic!("{fault:?}: the thread race hung at run {run}"),
            }
        }
    }
    for fault in [Fault::CasCheckThenActNoAwait, Fault::CasLockedPerInstance] {
        for run in 1..=EVERY_RUN {
            match outcome(Runner::Token.run(fault)).await {
                Outcome::Rejected(m) => println!("{fault:?}: token runner run {run}: {m}"),
                Outcome::Accepted => {
                    panic!("{fault:?}: the token runner accepted a non-atomic swap at run {run}")
                }
                Outcome::Hung => panic!("{fault:?}: the token runner hung at run {run}"),
            }
        }
    }
}

#[test]
fn every_check_is_needed() {
    for check in Check::ALL {
        if check == Check::NoUsableTokenAtRest {
            // A store never receives a token or a secret (only the secret's SHA-256), so no
            // store can break this check: it holds the engine to account, not the store.
            continue;
        }
        assert!(
            REJECTED
                .iter()
                .any(|&(c, faults)| c == check && !faults.is_empty()),
            "no broken store is pinned to {check:?}: nothing proves it is needed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn known_escapes_still_escape() {
    let mut caught = Vec::new();
    for &(fault, runner, why) in KNOWN_ESCAPES {
        let mut rejections = Vec::new();
        for _ in 0..ESCAPE_RUNS {
            match outcome(runner.run(fault)).await {
                Outcome::Accepted => {}
                Outcome::Rejected(m) => rejections.push(m),
                Outcome::Hung => panic!("{fault:?}: the {runner:?} runner hung ({why})"),
            }
        }
        if rejections.len() * 2 > ESCAPE_RUNS {
            caught.push(format!("{fault:?}: {}", rejections[0]));
        }
    }
    assert!(
        caught.is_empty(),
        "the kit now catches these: move them to REJECTED, pinned to their check:\n  {}",
        caught.join("\n  ")
    );
}
