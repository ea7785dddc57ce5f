//! The stream workload (`load.player`): each arrival is a viewer of the user's own HLS or DASH
//! stream, who reads its manifest and watches, as [`targets::StreamPlayer`] plays it.

use crate::load::Sessions;
use crate::record::Recorder;
use std::future::Future;
use std::sync::Arc;
use targets::StreamPlayer;
use tokio::time::Instant;

/// Viewers of one stream.
#[derive(Clone)]
pub(crate) struct StreamSessions {
    pub player: StreamPlayer,
    pub recorder: Arc<Recorder>,
}

impl Sessions for StreamSessions {
    fn start(&self, _index: u64, intended: Instant) -> impl Future<Output = ()> + Send + 'static {
        let (player, recorder) = (self.player.clone(), self.recorder.clone());
        async move {
            let outcome = player.session().await;
            recorder.record(intended, None, &outcome);
        }
    }

    fn dropped(&self, _index: u64, intended: Instant) {
        self.recorder.record_dropped(intended, None);
    }
}
