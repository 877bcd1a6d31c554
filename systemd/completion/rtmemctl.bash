# bash completion for rtmemctl, rtmemd and rtmem-example

_rtmemctl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-s|--socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-o|--output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-d|--delay|-n|--count) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "--socket --json --output --delay --count --version --help" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "status pools clients memtest metrics top" -- "$cur"))
	fi
}
complete -F _rtmemctl rtmemctl

_rtmemd() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-c|--config|-s|--socket|--monitor-socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--log-level) COMPREPLY=($(compgen -W "err warning notice info debug" -- "$cur")); return ;;
	--event-loop) COMPREPLY=($(compgen -W "auto io_uring epoll" -- "$cur")); return ;;
	esac
	COMPREPLY=($(compgen -W "--config --socket --monitor-socket --log-level --event-loop --check-config
		--version --help" -- "$cur"))
}
complete -F _rtmemd rtmemd

_rtmem_example() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-s|--socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-t|--threads|-p|--priority|-i|--interval|-l|--loops|-h|--histogram|-P|--pool) return ;;
	esac
	COMPREPLY=($(compgen -W "--threads --priority --interval --loops --histogram --quiet --json --pool
		--socket --accept-other --version --help" -- "$cur"))
}
complete -F _rtmem_example rtmem-example
