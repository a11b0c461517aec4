//! Which traces are kept: the OpenTelemetry samplers `OTEL_TRACES_SAMPLER` names, decided once
//! per trace, where it starts (a request, or a job run).

/// `OTEL_TRACES_SAMPLER`'s values; `parentbased_always_on` when unset.
pub const SAMPLERS: &[&str] = &[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

/// A sampler, as the OpenTelemetry specification defines them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    /// The share of new traces kept (1 for `always_on`, 0 for `always_off`).
    ratio: f64,
    /// Whether a caller's sampling decision (its `traceparent`'s flag) is followed.
    parent_based: bool,
}

impl Default for Sampler {
    fn default() -> Self {
        Self {
            ratio: 1.0,
            parent_based: true,
        }
    }
}

impl Sampler {
    /// The sampler `name` with its argument (`OTEL_TRACES_SAMPLER_ARG`: the ratio, 1 when
    /// absent); the problem, worded for the operator, when either is not one.
    pub fn parse(name: Option<&str>, arg: Option<&str>) -> Result<Self, String> {
        let ratio = match arg {
            None => 1.0,
            Some(arg) => arg
                .parse::<f64>()
                .ok()
                .filter(|ratio| (0.0..=1.0).contains(ratio))
                .ok_or_else(|| {
                    format!(
                        "OTEL_TRACES_SAMPLER_ARG must be the share of traces kept, 0 to 1 (got {arg:?})"
                    )
                })?,
        };
        let (ratio, parent_based) = match name.unwrap_or("parentbased_always_on") {
            "always_on" => (1.0, false),
            "always_off" => (0.0, false),
            "traceidratio" => (ratio, false),
            "parentbased_always_on" => (1.0, true),
            "parentbased_always_off" => (0.0, true),
            "parentbased_traceidratio" => (ratio, true),
            other => {
                return Err(format!(
                    "OTEL_TRACES_SAMPLER must be one of {} (got {other:?})",
                    SAMPLERS.join(", ")
                ));
            }
        };
        Ok(Self {
            ratio,
            parent_based,
        })
    }

    /// Whether the trace `trace_id` is kept; `caller_sampled` is the flag of the caller's
    /// `traceparent` when the trace came with one.
    pub(crate) fn keeps(&self, trace_id: &[u8; 16], caller_sampled: Option<bool>) -> bool {
        if let (true, Some(sampled)) = (self.parent_based, caller_sampled) {
            return sampled;
        }
        // As the specification's TraceIdRatioBased: the trace id's low 63 bits against the
        // ratio, so every service that sees the trace decides alike.
        let low = u64::from_be_bytes(trace_id[8..].try_into().expect("8 bytes")) >> 1;
        let bound = (self.ratio * (1u64 << 63) as f64) as u64;
        self.ratio >= 1.0 || low < bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(sampler: &Sampler, traces: u64, caller: Option<bool>) -> u64 {
        (0..traces)
            .filter(|n| {
                let mut id = [0u8; 16];
                id[8..].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
                sampler.keeps(&id, caller)
            })
            .count() as u64
    }

    #[test]
    fn each_sampler_keeps_its_share() {
        let parse = |name, arg| Sampler::parse(Some(name), arg).unwrap();
        assert_eq!(kept(&Sampler::default(), 1000, None), 1000);
        assert_eq!(kept(&Sampler::default(), 1000, Some(false)), 0);
        assert_eq!(kept(&parse("always_on", None), 1000, Some(false)), 1000);
        assert_eq!(kept(&parse("always_off", None), 1000, Some(true)), 0);
        assert_eq!(
            kept(&parse("parentbased_always_off", None), 100, Some(true)),
            100
        );
        let tenth = kept(&parse("traceidratio", Some("0.1")), 10_000, Some(true));
        assert!((900..1100).contains(&tenth), "{tenth}");
        let tenth = kept(
            &parse("parentbased_traceidratio", Some("0.1")),
            10_000,
            None,
        );
        assert!((900..1100).contains(&tenth), "{tenth}");
        assert_eq!(
            kept(
                &parse("parentbased_traceidratio", Some("0.1")),
                100,
                Some(true)
            ),
            100
        );
    }

    #[test]
    fn unknown_samplers_and_ratios_say_what_is_wrong() {
        let err = Sampler::parse(Some("sometimes"), None).unwrap_err();
        assert!(err.contains("OTEL_TRACES_SAMPLER must be one of"), "{err}");
        let err = Sampler::parse(Some("traceidratio"), Some("2")).unwrap_err();
        assert!(err.contains("OTEL_TRACES_SAMPLER_ARG"), "{err}");
    }
}
