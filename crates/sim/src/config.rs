//! The knobs of a run: [`SimConfig`] is fixed when the simulator is built, [`FaultConfig`] can be
//! swapped at any virtual instant with [`Sim::set_faults`](crate::Sim::set_faults), and
//! [`DiskFaultConfig`] with [`Sim::set_disk_faults`](crate::Sim::set_disk_faults).

/// A run's fixed parameters. Everything random in the run is drawn from one generator seeded
/// with `seed`, so the same config and the same test code replay the same run.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// The run seed: the only source of randomness in the whole simulation.
    pub seed: u64,
    /// Virtual time between two ticks of one node or client. Each node and client starts its
    /// ticks at a random phase within the first interval, so ticks do not line up.
    pub tick_us: u64,
    /// The smallest one-way network latency of a message.
    pub latency_us_min: u64,
    /// The largest one-way network latency of a message. Each message draws its own latency in
    /// `latency_us_min..=latency_us_max`, so messages between the same pair can overtake each
    /// other.
    pub latency_us_max: u64,
    /// The network faults in force when the run starts.
    pub faults: FaultConfig,
    /// The disk I/O errors in force when the run starts (none by default).
    pub disk_faults: DiskFaultConfig,
    /// A hard cap on events in one run, whatever the test asks: a run that reaches it fails as a
    /// liveness failure. It catches event storms that never let virtual time advance.
    pub steps_max: u64,
    /// A hard cap on virtual time in one run; reaching it is a liveness failure.
    pub time_us_max: u64,
}

/// The default tick: 10 ms of virtual time, the granularity of the 2015 labs' sleeps.
pub const TICK_US_DEFAULT: u64 = 10_000;

/// Default hard cap on events per run. At about a million events per second this is well under a
/// minute of CPU, far beyond any single test, so reaching it means a storm, not a slow test.
pub const STEPS_MAX_DEFAULT: u64 = 50_000_000;

/// Default hard cap on virtual time per run: one virtual hour, beyond every handout time limit.
pub const TIME_US_MAX_DEFAULT: u64 = 3_600 * 1_000_000;

impl SimConfig {
    /// The default configuration with the given seed: 10 ms ticks, 0.1–2 ms latency, no faults.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            tick_us: TICK_US_DEFAULT,
            latency_us_min: 100,
            latency_us_max: 2_000,
            faults: FaultConfig::default(),
            disk_faults: DiskFaultConfig::default(),
            steps_max: STEPS_MAX_DEFAULT,
            time_us_max: TIME_US_MAX_DEFAULT,
        }
    }

    /// Checks the config is usable.
    ///
    /// # Panics
    /// If the tick is zero, the latency range is empty, or a probability is outside `0..=1`.
    pub fn validate(&self) {
        assert!(self.tick_us > 0, "SimConfig: tick_us must be positive");
        assert!(
            self.latency_us_min <= self.latency_us_max,
            "SimConfig: latency_us_min {} > latency_us_max {}",
            self.latency_us_min,
            self.latency_us_max
        );
        self.faults.validate();
        self.disk_faults.validate();
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::new(0)
    }
}

/// The network faults in force (TigerBeetle's packet-simulator options, plus SPEC §1.2).
/// Partitions, deafness, cuts and crashes are verbs on [`Sim`](crate::Sim), not options, because a
/// test applies them at chosen instants.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Probability that any one message (peer message, answer, client request or reply) is lost
    /// when sent.
    pub loss: f64,
    /// Probability that a peer message, answer or client request is delivered twice, each copy
    /// with its own latency. Client replies are never duplicated: the contract does not make
    /// `Node::Resp` cloneable.
    pub duplicate: f64,
    /// Probability that a message is held back by an extra delay, uniform in `0..=delay_us_max`,
    /// on top of its latency: long reorderings, like a slow proxy (SPEC §1.5).
    pub delay: f64,
    /// The longest extra delay (see `delay`).
    pub delay_us_max: u64,
    /// SPEC §1.2 "unreliable" mode: each arriving peer `Send` or client request is dropped with
    /// probability 10%, else handled with every answer to it lost with probability 20% (18% of
    /// all), else served normally (72%).
    pub unreliable: bool,
}

impl FaultConfig {
    /// No faults at all.
    pub fn none() -> Self {
        FaultConfig::default()
    }

    /// Only SPEC §1.2 unreliable mode.
    pub fn unreliable() -> Self {
        FaultConfig {
            unreliable: true,
            ..FaultConfig::default()
        }
    }

    /// Checks every probability is in `0..=1`.
    ///
    /// # Panics
    /// If one is not (NaN included).
    pub fn validate(&self) {
        for (name, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("delay", self.delay),
        ] {
            assert!(
                (0.0..=1.0).contains(&p),
                "FaultConfig: {name} = {p} is not a probability"
            );
        }
    }
}

/// Disk I/O errors drawn at random, per operation (TigerBeetle keeps its storage fault options
/// apart from its packet simulator's too). A node whose disk operation fails stops there, as a
/// crash would: see [`Sim::fail_disk`](crate::Sim::fail_disk) for what it keeps. This is kept
/// out of [`FaultConfig`] so that replacing the network faults with
/// [`Sim::set_faults`](crate::Sim::set_faults) never turns disk errors off or on by accident.
///
/// Both probabilities default to 0, and a zero probability draws nothing from the generator, so a
/// run without disk errors replays exactly as it did before they existed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiskFaultConfig {
    /// Probability that a `Sync` fails (fsync returns EIO): the node stops before anything after
    /// it in that input leaves.
    pub sync_error: f64,
    /// Probability that a `Write` or `Append` fails (disk full, EIO): the node stops at it.
    pub write_error: f64,
}

impl DiskFaultConfig {
    /// No disk errors.
    pub fn none() -> Self {
        DiskFaultConfig::default()
    }

    /// Checks every probability is in `0..=1`.
    ///
    /// # Panics
    /// If one is not (NaN included).
    pub fn validate(&self) {
        for (name, p) in [
            ("sync_error", self.sync_error),
            ("write_error", self.write_error),
        ] {
            assert!(
                (0.0..=1.0).contains(&p),
                "DiskFaultConfig: {name} = {p} is not a probability"
            );
        }
    }
}
