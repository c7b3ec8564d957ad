//! `ferrocat`: serve (default), worker, migrate, createsuperuser.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ferrocat::app::{Application, open_db, run_worker, shutdown_signal};
use ferrocat::config::{Cli, Command};
use tracing_subscriber::EnvFilter;

fn init_logs(format: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // `run` has already waited for the shutdown deadline; work still running on blocking
    // threads (a share walk, a decode) is not waited for again: its queue item was
    // released for another worker. (Dropping the runtime would wait for it forever.)
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    config.validate()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            tracing::info!(
                "ferrocat {} starting: {}",
                env!("CARGO_PKG_VERSION"),
                config.describe()
            );
            let app = Application::build(config).await?;
            tracing::info!("listening on http://{}", app.local_addr());
            app.run_until(shutdown_signal()).await
        }
        Command::Worker => {
            tracing::info!(
                "ferrocat {} worker starting: {}",
                env!("CARGO_PKG_VERSION"),
                config.describe()
            );
            run_worker(config, shutdown_signal()).await
        }
        Command::Migrate => {
            let db = open_db(&config).await?;
            tracing::info!(backend = db.backend(), "migrations applied");
            db.close().await;
            Ok(())
        }
        Command::Createsuperuser {
            username,
            email,
            password,
        } => {
            let db = open_db(&config).await?;
            let core = ferrocat_core::Core::new(db, config.core_config()?);
            let result = core
                .auth()
                .create_superuser(&username, &email, &password)
                .await;
            core.db().close().await;
            match result {
                Ok(u) => {
                    println!("Superuser {:?} created (id {}).", u.username, u.id);
                    Ok(())
                }
                Err(ferrocat_core::Error::Conflict(m)) => anyhow::bail!("{m}"),
                Err(ferrocat_core::Error::Invalid(f)) => {
                    anyhow::bail!(
                        "invalid input: {}",
                        serde_json::to_string(&f).unwrap_or_default()
                    )
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
