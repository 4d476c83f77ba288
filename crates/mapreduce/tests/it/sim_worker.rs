//! A simulated worker: a [`Client`] core speaking the real protocol to the real
//! [`Coordinator`], whose tasks take virtual time and which can die or be slow. Map outputs live
//! in a shared [`World`] under the worker's id, and vanish when it dies, as they would with its
//! disk; a reducer whose source is gone reports `FetchFailed`, as a real one whose fetch fails.

use mapreduce::protocol::{Assignment, MapSource, Request, Response, TaskId, WorkerId};
use mapreduce::task::{run_map, run_reduce};
use mapreduce::{Coordinator, CoordinatorConfig, Job};
use rpc::{Client, ClientEffect, ClientOutbox, NodeId};
use sim::{Sim, SimConfig};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// One second of virtual time.
pub const SECOND_US: u64 = 1_000_000;
/// Ticks between heartbeats of a busy worker (1 s at the default 10 ms tick).
const HEARTBEAT_TICKS: u64 = 100;
/// Ticks before an unanswered request is sent again.
const RETRY_TICKS: u64 = 50;

/// The SPEC §2.4 test job: map emits (field, "") per whitespace-separated field; reduce gives "".
pub struct FieldsJob;

impl Job for FieldsJob {
    fn name(&self) -> &'static str {
        "fields"
    }
    fn map<'a>(&self, _doc: &str, split: &'a [u8], emit: &mut dyn FnMut(&'a [u8], &[u8])) {
        for field in split
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty())
        {
            emit(field, b"");
        }
    }
    fn reduce(&self, _key: &[u8], _values: &mut dyn Iterator<Item = &[u8]>, _out: &mut Vec<u8>) {}
}

/// What every simulated worker shares: the input, and the map outputs each worker holds.
#[derive(Default)]
pub struct World {
    /// The input text (one document).
    pub input: Vec<u8>,
    /// (holder, map task) -> one run per reduce partition.
    pub held: BTreeMap<(WorkerId, TaskId), Vec<Vec<u8>>>,
}

/// The shared world.
pub type SharedWorld = Rc<RefCell<World>>;

/// How a simulated worker misbehaves.
#[derive(Clone, Copy, Debug)]
pub struct Behaviour {
    /// Ticks one task takes.
    pub task_ticks: u64,
    /// Dies (goes silent for good) when handed task number n+1.
    pub die_after_tasks: Option<u32>,
    /// Its map outputs stay fetchable after it dies (it only stopped taking tasks, as a worker
    /// of the original lab whose outputs sat on the shared filesystem).
    pub outputs_survive: bool,
}

impl Behaviour {
    /// A healthy worker whose tasks take `task_ticks`.
    pub fn healthy(task_ticks: u64) -> Self {
        Behaviour {
            task_ticks,
            die_after_tasks: None,
            outputs_survive: false,
        }
    }

    /// A worker that dies when handed task number `n`+1, losing its map outputs.
    pub fn dying(task_ticks: u64, n: u32) -> Self {
        Behaviour {
            die_after_tasks: Some(n),
            ..Behaviour::healthy(task_ticks)
        }
    }
}

#[derive(Debug)]
enum Busy {
    Idle,
    Working { ticks_left: u64, then: Request },
    Waiting { ticks_left: u64 },
}

/// The worker core.
pub struct SimWorker {
    world: SharedWorld,
    behaviour: Behaviour,
    id: Option<WorkerId>,
    dead: bool,
    tasks_started: u32,
    /// First completions are counted by the master; this counts what the worker finished.
    pub tasks_finished: u32,
    busy: Busy,
    pending: Option<(Request, u64)>,
    now: u64,
}

impl std::fmt::Debug for SimWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimWorker({:?}, dead={})", self.id, self.dead)
    }
}

impl SimWorker {
    /// A worker in `world`.
    pub fn new(world: SharedWorld, behaviour: Behaviour) -> Self {
        SimWorker {
            world,
            behaviour,
            id: None,
            dead: false,
            tasks_started: 0,
            tasks_finished: 0,
            busy: Busy::Idle,
            pending: None,
            now: 0,
        }
    }

    fn send(&mut self, req: Request, out: &mut ClientOutbox<Self>) {
        self.pending = Some((req.clone(), self.now));
        out.push(ClientEffect::Request { to: NodeId(0), req });
    }

    fn ask(&mut self, out: &mut ClientOutbox<Self>) {
        match self.id {
            Some(worker) => self.send(Request::AskTask { worker }, out),
            None => self.send(
                Request::Register {
                    fetch_addr: String::new(),
                },
                out,
            ),
        }
    }

    fn die(&mut self) {
        self.dead = true;
        if let (Some(id), false) = (self.id, self.behaviour.outputs_survive) {
            self.world
                .borrow_mut()
                .held
                .retain(|(holder, _), _| *holder != id);
        }
    }

    fn start(&mut self, assignment: Assignment, out: &mut ClientOutbox<Self>) {
        if self.behaviour.die_after_tasks == Some(self.tasks_started) {
            self.die();
            return;
        }
        self.tasks_started += 1;
        let worker = self.id.expect("a worker with a task is registered");
        let then = match assignment {
            Assignment::Map {
                task,
                split,
                reduces,
                ..
            } => {
                let world = self.world.borrow();
                let text = &world.input[split.offset as usize..(split.offset + split.len) as usize];
                let runs = run_map(&FieldsJob, "input", text, reduces);
                drop(world);
                // Held from the moment the task is done (the output is on the worker's disk).
                self.world.borrow_mut().held.insert((worker, task), runs);
                Request::MapDone { worker, task }
            }
            Assignment::Reduce { task, sources } => match self.fetch(task, &sources) {
                Ok(runs) => Request::ReduceDone {
                    worker,
                    task,
                    output: run_reduce(&FieldsJob, &runs)
                        .expect("runs made by run_map")
                        .into(),
                },
                Err(source) => {
                    // The fetch fails at once, as a refused connection would.
                    self.send(
                        Request::FetchFailed {
                            worker,
                            task,
                            map_task: source.map_task,
                            holder: source.holder,
                        },
                        out,
                    );
                    return;
                }
            },
        };
        self.busy = Busy::Working {
            ticks_left: self.behaviour.task_ticks,
            then,
        };
    }

    fn fetch(&self, task: TaskId, sources: &[MapSource]) -> Result<Vec<Vec<u8>>, MapSource> {
        let world = self.world.borrow();
        sources
            .iter()
            .map(|s| match world.held.get(&(s.holder, s.map_task)) {
                Some(runs) => Ok(runs[task.0 as usize].clone()),
                None => Err(s.clone()),
            })
            .collect()
    }
}

impl Client for SimWorker {
    type Op = ();
    type Output = u32;
    type Req = Request;
    type Resp = Response;

    fn invoke(&mut self, (): (), out: &mut ClientOutbox<Self>) {
        self.ask(out);
    }

    fn on_response(&mut self, _from: NodeId, resp: Response, out: &mut ClientOutbox<Self>) {
        if self.dead || matches!(self.busy, Busy::Working { .. }) {
            return; // A heartbeat's Ack, or a stale answer.
        }
        self.pending = None;
        match resp {
            Response::Registered { worker, .. } => {
                self.id = Some(worker);
                self.ask(out);
            }
            Response::Task(assignment) => self.start(assignment, out),
            Response::Wait => self.busy = Busy::Waiting { ticks_left: 2 },
            Response::Exit => out.push(ClientEffect::Complete(self.tasks_finished)),
            Response::UnknownWorker => {
                self.id = None;
                self.ask(out);
            }
            Response::Ack => self.ask(out),
        }
    }

    fn on_tick(&mut self, out: &mut ClientOutbox<Self>) {
        self.now += 1;
        if self.dead {
            return;
        }
        match &mut self.busy {
            Busy::Working { ticks_left, then } if *ticks_left <= 1 => {
                let then = then.clone();
                self.busy = Busy::Idle;
                self.tasks_finished += 1;
                self.send(then, out);
            }
            Busy::Working { ticks_left, .. } => {
                *ticks_left -= 1;
                if let (0, Some(worker)) = (self.now % HEARTBEAT_TICKS, self.id) {
                    out.push(ClientEffect::Request {
                        to: NodeId(0),
                        req: Request::Heartbeat { worker },
                    });
                }
            }
            Busy::Waiting { ticks_left } if *ticks_left <= 1 => {
                self.busy = Busy::Idle;
                self.ask(out);
            }
            Busy::Waiting { ticks_left } => *ticks_left -= 1,
            Busy::Idle => {
                if let Some((req, sent)) = &self.pending
                    && self.now - sent > RETRY_TICKS
                {
                    let req = req.clone();
                    self.send(req, out);
                }
            }
        }
    }
}

/// The SPEC §2.4 input: lines "0".."n-1", cut into `maps` splits of whole lines.
pub fn numbers_world(n: u32, maps: u32) -> (SharedWorld, Vec<mapreduce::split::SplitRef>) {
    let mut input = Vec::new();
    let mut splits = Vec::new();
    let per = n.div_ceil(maps);
    for i in 0..n {
        if i % per == 0 {
            splits.push(mapreduce::split::SplitRef {
                file: 0,
                offset: input.len() as u64,
                len: 0,
            });
        }
        input.extend_from_slice(format!("{i}\n").as_bytes());
        let last = splits.last_mut().expect("a split was started");
        last.len = input.len() as u64 - last.offset;
    }
    (
        Rc::new(RefCell::new(World {
            input,
            held: BTreeMap::new(),
        })),
        splits,
    )
}

/// The master's timeouts in the simulations: a worker silent for 1 s is dead; a task is
/// abandoned after 10 s; backups start after 50 ms at the end of a phase.
pub fn sim_config(reduces: u32) -> CoordinatorConfig {
    CoordinatorConfig {
        reduces,
        worker_timeout_ticks: 100,
        task_timeout_ticks: 1_000,
        backup_after_ticks: 5,
    }
}

/// A simulation of one master over the SPEC §2.4 input (100 000 numbers, 100 maps, 50 reduces).
pub fn numbers_sim(seed: u64) -> (Sim<Coordinator, SimWorker>, SharedWorld) {
    let (world, splits) = numbers_world(100_000, 100);
    let master = Coordinator::new("fields", "", vec!["input".into()], splits, sim_config(50));
    (Sim::new(SimConfig::new(seed), vec![master]), world)
}

/// Adds a worker and starts it.
pub fn add_worker(
    sim: &mut Sim<Coordinator, SimWorker>,
    world: &SharedWorld,
    behaviour: Behaviour,
) -> rpc::ClientId {
    let id = sim.add_client(SimWorker::new(world.clone(), behaviour));
    sim.invoke(id, ());
    id
}

/// True once the master has every reduce output.
pub fn done(sim: &mut Sim<Coordinator, SimWorker>) -> bool {
    sim.node(NodeId(0)).is_some_and(Coordinator::is_done)
}

/// SPEC §2.4 `check`: the merged output has one line per input number, in string order.
pub fn check_output(sim: &Sim<Coordinator, SimWorker>) -> Result<(), String> {
    let outputs = sim
        .node(NodeId(0))
        .and_then(Coordinator::outputs)
        .ok_or("master has no output")?;
    let mut merged = Vec::new();
    mapreduce::task::merge_outputs(&outputs, &mut merged).map_err(|e| e.to_string())?;
    let text = String::from_utf8(merged).map_err(|e| e.to_string())?;
    let mut expected: Vec<String> = (0..100_000).map(|i: u32| i.to_string()).collect();
    expected.sort();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != expected.len() {
        return Err(format!(
            "{} lines, expected {}",
            lines.len(),
            expected.len()
        ));
    }
    for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
        if line.split(':').next() != Some(want.as_str()) {
            return Err(format!("line {i} is {line:?}, expected {want}"));
        }
    }
    Ok(())
}
