//! The hand-written server side of the connection and the host (node): facts, CPU maps, free memory, CPU model names: the calls whose wire form differs from the driver API (caps,
//! `need_results`, old-style counts and names, typed parameters); the rest are generated from the declaration.

use super::*;

/// Answers `call` if it is one of this file's; `None` passes it on.
pub(super) async fn answer(driver: &Connection, call: &Call) -> Option<Result<Reply>> {
    reply(driver, call).await.transpose()
}

async fn reply(driver: &Connection, call: &Call) -> Result<Option<Reply>> {
    #[allow(unused_imports)]
    use flags as f;
    use proto::*;
    Ok(Some(match call {
        Call::ConnectRegisterCloseCallback(()) => Reply::ConnectRegisterCloseCallback(()),
        Call::ConnectUnregisterCloseCallback(()) => Reply::ConnectUnregisterCloseCallback(()),
        Call::NodeGetCpuMap(args) => {
            let cpu_map = driver.node_get_cpu_map(args.flags).await?;
            if cpu_map.map.len() > CPUMAP_MAX as usize {
                return Err(rpc_error("the host CPU map exceeds REMOTE_CPUMAP_MAX"));
            }
            // Like libvirtd, send only the parts the caller asked for.
            Reply::NodeGetCpuMap(CpuMapRet {
                cpumap: Opaque(if args.need_map != 0 {
                    cpu_map.map
                } else {
                    Vec::new()
                }),
                online: if args.need_online != 0 {
                    cpu_map.online
                } else {
                    0
                },
                ret: clamp_i32(cpu_map.cpus),
            })
        }
        Call::NodeGetCellsFreeMemory(args) => {
            if args.max_cells > NODE_MAX_CELLS as i32 {
                return Err(rpc_error("maxCells > REMOTE_NODE_MAX_CELLS"));
            }
            let cells = driver
                .node_get_cells_free_memory(args.start_cell, args.max_cells)
                .await?;
            if cells.len() > NODE_MAX_CELLS as usize {
                return Err(rpc_error(
                    "the driver answered more than REMOTE_NODE_MAX_CELLS cells",
                ));
            }
            Reply::NodeGetCellsFreeMemory(CellsFreeMemoryRet {
                cells: Array(cells),
            })
        }

        Call::ConnectGetCpuModelNames(args) => {
            let models = driver.get_cpu_model_names(&args.arch, args.flags).await?;
            if models.len() > CPU_MODELS_MAX as usize {
                return Err(rpc_error(format!(
                    "Too many CPU models '{}' for limit '{CPU_MODELS_MAX}'",
                    models.len()
                )));
            }
            let ret = clamp_i32(models.len());
            let models = if args.need_results != 0 {
                models
            } else {
                Vec::new()
            };
            Reply::ConnectGetCpuModelNames(CpuModelNamesRet {
                models: Array(models),
                ret,
            })
        }
        _ => return Ok(None),
    }))
}
