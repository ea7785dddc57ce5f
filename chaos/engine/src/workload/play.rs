//! The Play workload: each arrival is a device that opens the home page and (unless it only
//! browses) presses Play and watches, as [`targets::PlaybackClient`] does.

use crate::cohorts::Cohorts;
use crate::load::Sessions;
use crate::record::Recorder;
use chaos_fault::derive_seed;
use std::future::Future;
use std::sync::Arc;
use targets::PlaybackClient;
use tokio::time::Instant;

/// Distinct titles played.
const TITLES: u64 = 200;

/// Play sessions: user and title drawn from the seed and the arrival's index.
#[derive(Clone)]
pub(crate) struct PlaySessions {
    pub player: PlaybackClient,
    pub recorder: Arc<Recorder>,
    pub seed: u64,
    pub cohorts: Option<Cohorts>,
    /// Share of sessions that only browse.
    pub browse: f64,
    /// Distinct subscribers.
    pub users: u64,
}

impl PlaySessions {
    /// User and title of arrival `index`, drawn from the seed.
    fn who(&self, index: u64) -> (String, String) {
        let h = derive_seed(self.seed, itoa::Buffer::new().format(index));
        (targets::numbered("u", h % self.users), targets::numbered("t", (h >> 32) % TITLES))
    }
}

impl Sessions for PlaySessions {
    fn start(&self, index: u64, intended: Instant) -> impl Future<Output = ()> + Send + 'static {
        let (user, title) = self.who(index);
        let side = self.cohorts.as_ref().map(|c| c.side_of(&user));
        let draw =
            (derive_seed(self.seed ^ 0xb20, itoa::Buffer::new().format(index)) >> 11) as f64 / (1u64 << 53) as f64;
        let browse = draw < self.browse;
        let (player, recorder) = (self.player.clone(), self.recorder.clone());
        async move {
            let outcome = if browse {
                player.browse(&user, intended).await
            } else {
                player.session(&user, &title, intended).await
            };
            recorder.record(intended, side, &outcome);
        }
    }

    fn dropped(&self, index: u64, intended: Instant) {
        let side = self.cohorts.as_ref().map(|c| c.side_of(&self.who(index).0));
        self.recorder.record_dropped(intended, side);
    }
}
