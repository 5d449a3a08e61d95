//! Measures generation time and the cost of serving a large cluster:
//! `cargo run --release -p hypercore-sim --example generate_timing`.

use std::time::{Duration, Instant};

use hypercore_sim::{Archetype, SimConfig, Simulator, generate_with_vm_count};

/// Best wall time of `runs` calls; the result is dropped outside the measured span.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            let value = std::hint::black_box(f());
            let took = t.elapsed();
            drop(value);
            took
        })
        .min()
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for count in [100, 2_000, 10_000] {
        let took = best_of(5, || {
            generate_with_vm_count(Archetype::Datacenter, 7, Some(count))
        });
        println!("generate datacenter with {count:>6} VMs: {took:?} (best of 5)");
    }
    for a in Archetype::ALL {
        let took = best_of(5, || hypercore_sim::generate(a, 7));
        println!("generate {a:<10} (own size): {took:?}");
    }

    let mut config = SimConfig::new(Some(Archetype::Datacenter), 7);
    config.vm_count = Some(2_000);
    let sim = Simulator::start(config, "127.0.0.1:0".parse()?).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{}/rest/v1/VirDomain", sim.base_url());
    let mut best = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..10 {
        let t = Instant::now();
        let body = http
            .get(&url)
            .basic_auth("admin", Some("admin"))
            .send()
            .await?
            .bytes()
            .await?;
        best = best.min(t.elapsed());
        bytes = body.len();
    }
    println!("GET /VirDomain with 2000 VMs: {best:?} best of 10, {bytes} bytes");
    let one = format!(
        "{url}/{}",
        sim.truth()["vms"][1999]["uuid"]
            .as_str()
            .unwrap_or_default()
    );
    let t = Instant::now();
    let n = 200;
    for _ in 0..n {
        http.get(&one)
            .basic_auth("admin", Some("admin"))
            .send()
            .await?
            .bytes()
            .await?;
    }
    println!(
        "GET /VirDomain/{{uuid}} with 2000 VMs: {:?} mean over {n} sequential calls",
        t.elapsed() / n
    );
    sim.shutdown().await;
    Ok(())
}
