//! `[admin]`: the listener that serves `GET /metrics` (see `crate::metrics::http`).

use super::file::{FileAdmin, FileListener};
use super::locate::entry_label;
use super::validate::Ctx;
use super::{Admin, ConfigError, Listener};

pub(super) fn admin(
    file: Option<&FileAdmin>,
    file_listeners: &[FileListener],
    listeners: &[Listener],
    ctx: &Ctx<'_>,
) -> Result<Option<Admin>, ConfigError> {
    let Some(file) = file else { return Ok(None) };
    let value = &file.listen;
    let listen: std::net::SocketAddr = value.get_ref().parse().map_err(|_| {
        let what = format!(
            "{:?} is not an IP socket address (expected \"ip:port\" like \"127.0.0.1:9090\" or \"[::1]:9090\"; host names are not resolved)",
            value.get_ref()
        );
        ctx.error(Some(value.span()), "admin.listen", what)
    })?;
    if listen.port() != 0
        && let Some((i, _)) = listeners.iter().enumerate().find(|(_, l)| l.bind == listen)
    {
        let label = entry_label("listener", i, Some(&listeners[i].name));
        let line = ctx.line(&file_listeners[i].bind.span());
        let what = format!(
            "{listen} is already bound by {label} at line {line} (expected a distinct address)"
        );
        return Err(ctx.error(Some(value.span()), "admin.listen", what));
    }
    Ok(Some(Admin { listen }))
}

#[cfg(test)]
mod tests;
