//! [`Timeline`]: the experiment's fault steps applied to and removed from the platform on time.

use crate::deploy::Deployment;
use crate::experiment::{Experiment, SystemKind};
use chaos_fault::{Cohort, Fault, Rule, derive_seed};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;
use targets::Topology;
use tokio::time::Instant;

/// What happened to a fault step, when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// When it happened, from the end of warm-up (measured, not planned).
    pub at_ms: u64,
    /// The step's name.
    pub step: String,
    /// What was done.
    pub action: Action,
    /// The step's target.
    pub target: String,
    /// The instances it touched.
    pub instances: Vec<String>,
    /// The fault's kind.
    pub fault: String,
    /// The share of requests faulted from now on, for ramping steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Why the change could not be made (`action: failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What was done to a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The fault was put in place.
    Applied,
    /// A ramping fault's probability moved on.
    Ramped,
    /// The fault was taken away at the end of its window.
    Removed,
    /// The fault was taken away early because the run stopped.
    RolledBack,
    /// The change could not be made (the target did not take it): the run stops, aborted.
    Failed,
}

/// Why the timeline stopped before its end.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    /// Told to (`stop` resolved): what it applied was rolled back.
    Halted,
    /// The steady state did not hold before the first fault: nothing was applied.
    Unsteady(String),
    /// A fault could not be applied or removed: what was applied was rolled back.
    FaultFailed(String),
}

/// One planned change of a step.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Change {
    /// Put in place, with this probability when it ramps.
    Apply(Option<f64>),
    /// A ramp's next probability.
    Ramp(f64),
    /// Taken away.
    Remove,
}

/// The planned changes, in time order.
pub struct Timeline<'a> {
    exp: &'a Experiment,
    /// (offset, step index, change)
    plan: Vec<(Duration, usize, Change)>,
    /// The instances each step hits, chosen once (seeded), so removal undoes what was applied.
    hits: Vec<Vec<String>>,
    /// Which steps are in place now.
    active: Mutex<Vec<bool>>,
}

impl<'a> Timeline<'a> {
    /// The plan of `exp` on `topology`: every step applied at `at` and removed at `at + for`;
    /// partial targets (`count`, `percent`) drawn from `seed` and the step's name.
    pub fn new(exp: &'a Experiment, topology: &Topology, seed: u64) -> Self {
        let mut plan = Vec::new();
        for (i, f) in exp.faults.iter().enumerate() {
            plan.push((f.start(), i, Change::Apply(f.ramp.as_ref().map(|r| r.from))));
            for (t, p) in f.ramp.iter().flat_map(|r| r.steps(f.duration)) {
                plan.push((f.start() + t, i, Change::Ramp(p)));
            }
            plan.push((f.end(), i, Change::Remove));
        }
        // Removals before applications at the same instant, then in file order.
        plan.sort_by_key(|&(t, i, c)| (t, c != Change::Remove, i));
        let instances = exp.instances(topology);
        let on_cluster = exp.system.kind(&exp.load) == SystemKind::Kubernetes;
        let hits = (0..exp.faults.len())
            .map(|i| match exp.control_instance(&exp.faults[i].target) {
                Some(one) => vec![one],
                // The cluster's engine picks the pods: the step hits its target as named.
                None if on_cluster => vec![exp.faults[i].target.to_string()],
                None => exp.faults[i].target.resolve(&instances, derive_seed(seed, &exp.step_name(i))),
            })
            .collect();
        let active = Mutex::new(vec![false; exp.faults.len()]);
        Self { exp, plan, hits, active }
    }

    /// The names of the steps in place now.
    pub fn active(&self) -> Vec<String> {
        let active = self.active_steps();
        active.iter().enumerate().filter(|(_, a)| **a).map(|(i, _)| self.exp.step_name(i)).collect()
    }

    /// Whether each step (in the experiment's order) is in place now.
    pub fn active_steps(&self) -> Vec<bool> {
        self.active.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_active(&self, i: usize, on: bool) {
        self.active.lock().unwrap_or_else(|p| p.into_inner())[i] = on;
    }

    /// The plan without running it: (offset from the end of warm-up, step index, applied?,
    /// instances hit), in time order.
    pub fn plan(&self) -> Vec<(Duration, usize, bool, Vec<String>)> {
        self.plan
            .iter()
            .filter(|(_, _, c)| !matches!(c, Change::Ramp(_)))
            .map(|&(t, i, c)| (t, i, c != Change::Remove, self.hits[i].clone()))
            .collect()
    }

    /// Runs the plan against `platform` from `origin` (end of warm-up). `before_first` is asked
    /// just before the first fault; an `Err` stops the timeline with nothing applied. Stops
    /// early when `stop` resolves, or when a change cannot be made, rolling back what it
    /// applied. Returns the events and why it stopped early, if it did.
    pub async fn run(
        &self,
        platform: &Deployment,
        origin: Instant,
        before_first: impl FnOnce() -> Result<(), String>,
        stop: impl std::future::Future<Output = ()>,
    ) -> (Vec<TimelineEvent>, Option<Stop>) {
        let mut events = Vec::new();
        let mut before_first = Some(before_first);
        tokio::pin!(stop);
        for &(offset, i, change) in &self.plan {
            tokio::select! {
                biased;
                _ = &mut stop => {
                    self.roll_back(platform, origin, &mut events).await;
                    return (events, Some(Stop::Halted));
                }
                _ = tokio::time::sleep_until(origin + offset) => {}
            }
            let apply = change != Change::Remove;
            if let Some(Err(reason)) = apply.then(|| before_first.take().map(|check| check())).flatten() {
                return (events, Some(Stop::Unsteady(reason)));
            }
            let action = match change {
                Change::Apply(_) => Action::Applied,
                Change::Ramp(_) => Action::Ramped,
                Change::Remove => Action::Removed,
            };
            let event = self.change(platform, origin, i, change, action).await;
            if let Some(error) = event.error.clone() {
                tracing::warn!(step = %self.exp.step_name(i), %error, "fault change failed");
                events.push(event);
                // What was half applied is rolled back with the rest.
                self.set_active(i, true);
                self.roll_back(platform, origin, &mut events).await;
                let what = if apply { "applied" } else { "removed" };
                return (
                    events,
                    Some(Stop::FaultFailed(format!("fault `{}` could not be {what}: {error}", self.exp.step_name(i)))),
                );
            }
            events.push(event);
            self.set_active(i, apply);
            match action {
                Action::Applied => {
                    tracing::info!(step = %self.exp.step_name(i), instances = ?self.hits[i], "fault applied")
                }
                Action::Removed => tracing::info!(step = %self.exp.step_name(i), "fault removed"),
                _ => tracing::debug!(step = %self.exp.step_name(i), ?change, "fault ramped"),
            }
        }
        (events, None)
    }

    async fn roll_back(&self, platform: &Deployment, origin: Instant, events: &mut Vec<TimelineEvent>) {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for (i, _) in active.iter().enumerate().filter(|(_, a)| **a) {
            tracing::warn!(step = %self.exp.step_name(i), "fault rolled back");
            events.push(self.change(platform, origin, i, Change::Remove, Action::RolledBack).await);
            self.set_active(i, false);
        }
    }

    async fn change(
        &self,
        platform: &Deployment,
        origin: Instant,
        i: usize,
        change: Change,
        action: Action,
    ) -> TimelineEvent {
        let apply = change != Change::Remove;
        let step = &self.exp.faults[i];
        let targets = &self.hits[i];
        let error = match platform.change_step(i, apply).await {
            Some(done) => done.err(),
            None => self.change_instances(platform, i, change).await,
        };
        let name = self.exp.step_name(i);
        TimelineEvent {
            at_ms: Instant::now().saturating_duration_since(origin).as_millis() as u64,
            step: name,
            action: if error.is_some() { Action::Failed } else { action },
            error,
            target: step.target.to_string(),
            instances: targets.clone(),
            fault: step.fault.kind().into(),
            probability: match change {
                Change::Apply(p) => p,
                Change::Ramp(p) => Some(p),
                Change::Remove => None,
            },
        }
    }

    /// Makes `change` of step `i` on each instance it hits; why the first that failed did.
    async fn change_instances(&self, platform: &Deployment, i: usize, change: Change) -> Option<String> {
        let apply = change != Change::Remove;
        let step = &self.exp.faults[i];
        let name = self.exp.step_name(i);
        for instance in &self.hits[i] {
            let done = match (&step.fault, apply) {
                (Fault::Kill { restart_after }, true) => platform.kill(instance, *restart_after).await,
                (Fault::Kill { .. }, false) => platform.restart(instance).await,
                (Fault::Pause, true) => platform.pause(instance).await,
                (Fault::Pause, false) => platform.resume(instance).await,
                (fault, true) => {
                    let mut scope = step.scope.clone();
                    if let Change::Apply(Some(p)) | Change::Ramp(p) = change {
                        scope.probability = p;
                    }
                    if let Some(c) = &self.exp.cohorts {
                        scope.cohort = Some(Cohort { share: c.experiment, header: targets::USER_HEADER.into() });
                    }
                    platform.insert_rule(instance, Rule::new(name.as_str(), fault.clone(), scope)).await
                }
                (_, false) => platform.remove_rule(instance, &name).await,
            };
            if let Err(e) = done {
                return Some(format!("{instance}: {e}"));
            }
        }
        None
    }
}
