# Installation of the daemon side: unit, sysusers, configuration, man pages.
# (librtmem's own install rules live in lib/CMakeLists.txt.)
