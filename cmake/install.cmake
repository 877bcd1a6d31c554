# Installation of the daemon side: unit, sysusers, configuration, man pages.
# (librtmem's own install rules live in lib/CMakeLists.txt, rtmemctl's in
# cli/CMakeLists.txt, rtmem-example's in examples/CMakeLists.txt.)
#
# Layout with -DCMAKE_INSTALL_PREFIX=/usr (what debian/rules uses):
#   /usr/sbin/rtmemd                       the daemon
#   /lib/systemd/system/rtmemd.service     systemd's unit dir (pkg-config systemd)
#   /usr/lib/sysusers.d/rtmemd.conf        user rtmemd, group rtmem
#   /etc/rtmemd/rtmemd.conf                the default configuration
#   /usr/share/man/man{1,3,5,8}/...        man pages
# With another prefix (e.g. /usr/local), the unit and sysusers files go below
# the prefix, where systemd does not look: pass RTMEM_SYSTEMD_UNITDIR and
# RTMEM_SYSUSERSDIR, or set RTMEM_INSTALL_SYSTEMD=OFF.

option(RTMEM_INSTALL_SYSTEMD "Install the systemd unit and the sysusers.d file" ON)

if(TARGET rtmemd)
  install(TARGETS rtmemd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endif()

if(RTMEM_INSTALL_SYSTEMD)
  # systemd's own directories when installing into /usr (absolute paths,
  # still relative to DESTDIR), else below the prefix.
  set(_unitdir "${CMAKE_INSTALL_LIBDIR}/systemd/system")
  set(_sysusersdir "${CMAKE_INSTALL_LIBDIR}/sysusers.d")
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(_unitdir "/lib/systemd/system")
    set(_sysusersdir "/usr/lib/sysusers.d")
    pkg_get_variable(_pc_unitdir systemd systemdsystemunitdir)
    pkg_get_variable(_pc_sysusersdir systemd sysusersdir)
    if(_pc_unitdir)
      set(_unitdir "${_pc_unitdir}")
    endif()
    if(_pc_sysusersdir)
      set(_sysusersdir "${_pc_sysusersdir}")
    endif()
  endif()
  set(RTMEM_SYSTEMD_UNITDIR "${_unitdir}" CACHE STRING "Where rtmemd.service is installed")
  set(RTMEM_SYSUSERSDIR "${_sysusersdir}" CACHE STRING "Where the sysusers.d file is installed")

  # systemd/rtmemd.service names /usr/sbin/rtmemd (so systemd-analyze can
  # check the file as it is); point it at the real install location.
  file(READ ${PROJECT_SOURCE_DIR}/systemd/rtmemd.service _unit)
  set(_exec "${CMAKE_INSTALL_FULL_SBINDIR}/rtmemd")
  if(NOT CMAKE_INSTALL_FULL_SYSCONFDIR STREQUAL "/etc")
    string(APPEND _exec " -c ${CMAKE_INSTALL_FULL_SYSCONFDIR}/rtmemd/rtmemd.conf")
  endif()
  string(REPLACE "ExecStart=/usr/sbin/rtmemd" "ExecStart=${_exec}" _unit "${_unit}")
  file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/systemd/rtmemd.service CONTENT "${_unit}" @ONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/systemd/rtmemd.service)

  install(FILES ${PROJECT_BINARY_DIR}/systemd/rtmemd.service DESTINATION ${RTMEM_SYSTEMD_UNITDIR})
  install(FILES ${PROJECT_SOURCE_DIR}/systemd/rtmemd.sysusers
    DESTINATION ${RTMEM_SYSUSERSDIR} RENAME rtmemd.conf)
  # rtmemctl metrics into node_exporter's textfile directory, every 15 s,
  # where that directory exists.
  install(FILES ${PROJECT_SOURCE_DIR}/systemd/rtmemd-metrics.service ${PROJECT_SOURCE_DIR}/systemd/rtmemd-metrics.timer
    DESTINATION ${RTMEM_SYSTEMD_UNITDIR})
endif()

# The kernel settings the locked pools need (sysctl.d, read at boot), and the
# RT limits of the group rtmem (pam_limits, at login).
set(_sysctldir "${CMAKE_INSTALL_LIBDIR}/sysctl.d")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_sysctldir "/usr/lib/sysctl.d")
endif()
install(FILES ${PROJECT_SOURCE_DIR}/systemd/rtmemd.sysctl DESTINATION ${_sysctldir} RENAME 50-rtmemd.conf)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/rtmemd.limits
  DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/security/limits.d RENAME rtmem.conf)

# bash completion: loaded on demand by command name, so one file per command.
foreach(_cmd rtmemctl rtmemd rtmem-example)
  install(FILES ${PROJECT_SOURCE_DIR}/systemd/completion/rtmemctl.bash
    DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME ${_cmd})
endforeach()

# The documented default configuration. CMAKE_INSTALL_FULL_SYSCONFDIR is /etc
# for the prefix /usr (GNUInstallDirs), which is where the daemon looks.
install(FILES ${PROJECT_SOURCE_DIR}/config/rtmemd.conf
  DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/rtmemd)

# Man pages (plain roff, man/).
foreach(_page rtmemd.8 rtmemd.conf.5 rtmemctl.1 rtmem-example.1 rtmem-pipeline.1 librtmem.3)
  string(REGEX MATCH "[0-9]$" _sect "${_page}")
  install(FILES ${PROJECT_SOURCE_DIR}/man/${_page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_sect})
endforeach()

# man 3 rtmem_alloc etc.: one ".so" link page per exported function of
# librtmem.map to librtmem(3) (dh_installman turns them into symlinks).
file(STRINGS ${PROJECT_SOURCE_DIR}/lib/client/librtmem.map _map_lines REGEX "^[ \t]+rtmem_[a-z_]+;")
foreach(_line IN LISTS _map_lines)
  string(REGEX REPLACE "^[ \t]+(rtmem_[a-z_]+);.*" "\\1" _fn "${_line}")
  file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/man/man3/${_fn}.3 CONTENT ".so man3/librtmem.3\n")
  install(FILES ${PROJECT_BINARY_DIR}/man/man3/${_fn}.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/lib/client/librtmem.map)
